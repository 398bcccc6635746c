"""The one request context, built at the edge of either API and carried through the pipeline.

Authentication happens once per call, in the gRPC interceptor or the HTTP middleware
(`cluster.gateway.edge`); they leave the caller's tenant in `CALLER` for the handler, which
opens the call's books and builds the `RequestContext` from the parsed request. Below the edge
nothing reads headers or metadata again.
"""

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass

from cluster.errors import DeadlineExceeded
from cluster.gateway.accounting import Call
from cluster.gateway.tenants import Tenant
from cluster.types import ChatRequest, GenerateRequest, PriorityClass

CALLER: ContextVar[Tenant] = ContextVar("oss_cluster_caller")


@dataclass(frozen=True)
class Deadline:
    """When a request must be done, on the event loop's clock; preparing, queueing and streaming all count."""

    at: float
    seconds: float

    @classmethod
    def within(cls, timeout_s: float | None, max_s: float) -> "Deadline":
        """The caller's deadline, at most `max_s`; that when it set none."""
        seconds = max_s if timeout_s is None else max(0.0, min(timeout_s, max_s))
        return cls(asyncio.get_running_loop().time() + seconds, seconds)

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"the request did not finish within its deadline of {self.seconds:.1f} s")


@dataclass(frozen=True)
class RequestContext:
    call: Call  # the books: tokens, timings, quota lease, audit line
    tenant: Tenant
    priority_class: PriorityClass
    session_id: str
    deadline: Deadline

    @property
    def request_id(self) -> str:
        """The gateway's own id, used as the engine request's: no caller can reach another's request by naming it."""
        return self.call.request_id

    def label(self) -> str:
        """How logs name the request: the gateway's id, and the caller's where it gave one."""
        if self.call.caller_request_id:
            return f"{self.request_id} (caller's id {self.call.caller_request_id})"
        return self.request_id

    @classmethod
    def at_edge(cls, call: Call, request: ChatRequest | GenerateRequest, timeout_s: float | None,
                max_timeout_s: float) -> "RequestContext":
        call.caller_request_id = request.request_id
        call.priority_class = request.priority_class.value
        return cls(call, call.tenant, request.priority_class, request.session_id,
                   Deadline.within(timeout_s, max_timeout_s))
