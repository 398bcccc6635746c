"""The one call accountant of both APIs: each call's metrics and its audit line, written in one place.

Every call, gRPC or HTTP, is counted once in `oss_cluster_requests_total{api, method, tenant, code}`
with `code` a gRPC status name whichever API it came by (HTTP's status codes map through the
one table in cluster.errors; a client that went away is CANCELLED). Its tokens, latency and finish
reason are counted per tenant, and one JSON line goes to the audit log: ids, tenant, model, token
counts, status, timings. Never the prompt or the completion.
"""

import json
import logging
import logging.handlers
import queue
import sys
import time
import uuid

import grpc

from cluster import metrics
from cluster.errors import status_of
from cluster.gateway.tenants import Tenant
from cluster.types import FinishReason

UNAUTHENTICATED_TENANT = "-"  # the tenant label of calls refused before a tenant was known


class AuditLog:
    """JSON lines to stdout (`-`), to a file (appended), or nowhere (empty). A thread writes them:
    the event loop only puts a line on a queue."""

    def __init__(self, target: str):
        self._logger: logging.Logger | None = None
        self._listener: logging.handlers.QueueListener | None = None
        if not target:
            return
        handler = logging.StreamHandler(sys.stdout) if target == "-" else logging.FileHandler(target, delay=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        lines: queue.SimpleQueue = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(lines, handler)
        self._logger = logging.getLogger(f"oss_cluster.audit.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(logging.handlers.QueueHandler(lines))
        self._listener.start()

    def write(self, record: dict) -> None:
        if self._logger is not None:
            self._logger.info(json.dumps(record, separators=(",", ":")))

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()  # writes what is queued, then ends the thread
            for handler in self._listener.handlers:
                handler.close()
            self._listener = self._logger = None


class Call:
    """The books of one call, from the edge to its last byte: opened when the call arrives, filled in
    by the pipeline as tokens stream, closed once with how it ended."""

    def __init__(self, accountant: "Accountant", api: str, method: str, tenant: Tenant | None):
        self._accountant = accountant
        self.api, self.method, self.tenant = api, method, tenant
        self.request_id = uuid.uuid4().hex  # the gateway's own id: the engine request's, the audit line's
        self.caller_request_id = ""
        self.priority_class = ""
        self.start = time.monotonic()
        self.prompt_tokens = self.completion_tokens = 0
        self.first_token: float | None = None
        self._last_token: float | None = None
        self.finish_reason: FinishReason | None = None
        self.retries = 0
        self.lease = None  # the tenant's quota lease, once admitted: tokens spend it, closing releases it
        self._completion_counter = None
        self._closed = False
        metrics.child(metrics.IN_FLIGHT, api, method).inc()

    @property
    def tenant_name(self) -> str:
        return self.tenant.name if self.tenant is not None else UNAUTHENTICATED_TENANT

    def prompt(self, n: int) -> None:
        """The request's prompt is `n` tokens long (counted once it is rendered)."""
        self.prompt_tokens = n
        metrics.child(metrics.PROMPT_TOKENS, self.method, self.tenant_name).inc(n)

    def tokens(self, n: int) -> None:
        """`n` generated tokens reached the gateway: counted, and spent from the tenant's quota, as they stream."""
        if not n:
            return
        now = time.monotonic()
        if self.lease is not None:
            self.lease.spend(n)
        if self.first_token is None:
            self.first_token = now
            metrics.child(metrics.TIME_TO_FIRST_TOKEN, self.method, self.tenant_name).observe(now - self.start)
            self._completion_counter = metrics.child(metrics.COMPLETION_TOKENS, self.method, self.tenant_name)
        elif self._last_token is not None:
            gap = (now - self._last_token) / n
            histogram = metrics.child(metrics.INTER_TOKEN_LATENCY, self.method)
            for _ in range(n):
                histogram.observe(gap)
        self._last_token = now
        self.completion_tokens += n
        self._completion_counter.inc(n)

    def ttft_ms(self) -> float:
        return (self.first_token - self.start) * 1000 if self.first_token else 0.0

    def close(self, error: BaseException | None = None, *, http_status: int | None = None) -> None:
        """Ends the books: `error` is what ended the call (None: it succeeded; CancelledError and the
        like: the client went away). Only the first close counts."""
        if self._closed:
            return
        self._closed = True
        if self.lease is not None:
            self.lease.release()
        if error is None:
            code = grpc.StatusCode.OK.name
        elif isinstance(error, Exception):
            code = status_of(error)[0].name
        else:
            code = grpc.StatusCode.CANCELLED.name
        elapsed = time.monotonic() - self.start
        tenant, method = self.tenant_name, self.method
        metrics.child(metrics.IN_FLIGHT, self.api, method).dec()
        metrics.child(metrics.REQUESTS, self.api, method, tenant, code).inc()
        metrics.child(metrics.END_TO_END_LATENCY, method, tenant).observe(elapsed)
        if self.finish_reason is not None:
            metrics.child(metrics.FINISHES, method, self.finish_reason.value).inc()
        record = {"time": round(time.time(), 3), "request_id": self.request_id,
                  "caller_request_id": self.caller_request_id or None, "tenant": tenant, "api": self.api,
                  "method": method, "model": self._accountant.model, "priority_class": self.priority_class or None,
                  "status": code, "finish_reason": self.finish_reason.value if self.finish_reason else None,
                  "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                  "ttft_ms": round(self.ttft_ms(), 1) if self.first_token else None,
                  "latency_ms": round(elapsed * 1000, 1), "retries": self.retries}
        if http_status is not None:
            record["http_status"] = http_status
        self._accountant.audit.write(record)


class Accountant:
    """Opens the calls of one gateway; they write to its audit log."""

    def __init__(self, model: str, audit: AuditLog | None = None):
        self.model = model
        self.audit = audit or AuditLog("")

    def open(self, api: str, method: str, tenant: Tenant | None) -> Call:
        return Call(self, api, method, tenant)

    def refused(self, api: str, method: str, error: Exception, http_status: int | None = None) -> None:
        """A call ended before it had a tenant (authentication failed)."""
        self.open(api, method, None).close(error, http_status=http_status)
