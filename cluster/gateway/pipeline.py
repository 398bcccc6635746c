"""The request path shared by every API: validate, render, route, stream tokens, parse, measure."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from cluster import metrics
from cluster.errors import ClusterError, DeadlineExceeded, InternalError, Unavailable
from cluster.gateway.accounting import Call
from cluster.gateway.admission import Admission
from cluster.gateway.context import RequestContext
from cluster.gateway.prepare import Prepared, Preparer
from cluster.gateway.quota import Quotas
from cluster.gateway.stop_strings import StopMatcher
from cluster.gateway.validate import Limits
from cluster.harmony.parse import ChatParser
from cluster.harmony.text import TextDecoder
from cluster.replica.client import ReplicaDied, ReplicaDraining, ReplicaFailed
from cluster.router.policy import RouteRequest
from cluster.router.replica_set import Replica, ReplicaSet
from cluster.router.router import Router
from cluster.types import (ChatEvent, ChatRequest, ContentDelta, EngineRequest, Finish, FinishReason, GenerateEvent,
                           GenerateRequest, PriorityClass, TextChunk, Usage)

log = logging.getLogger(__name__)

# vLLM schedules lower priority values first; batch requests sit behind every interactive one
# whatever their own priority (which is within [-100, 100]).
BATCH_ENGINE_PRIORITY_OFFSET = 1000
NO_REPLICA = "no replica is ready to serve; the cluster is starting or replacing replicas, retry in a few seconds"


class _Failure:
    error = ""


@asynccontextmanager
async def _ends_with_error(call: Call):
    """Before the first token a failure raises (the caller gets a status and may retry); after it,
    the stream ends with finish reason `error` so the caller keeps what it already received.
    A passed deadline always raises."""
    failure = _Failure()
    try:
        yield failure
    except ClusterError as exc:
        if call.first_token is None or isinstance(exc, DeadlineExceeded):
            raise  # a deadline is the caller's own limit: it ends the call as such, tokens or not
        log.warning("stream failed after %d tokens: %s", call.completion_tokens, exc)
        failure.error = str(exc)


class _FailedBeforeFirstToken(Exception):
    """A replica failed a request before any of its tokens reached the caller: another may serve it."""

    def __init__(self, error: ClusterError, reason: str):
        super().__init__(str(error))
        self.error, self.reason = error, reason


class Pipeline:
    """Serves Chat and Generate as async generators of domain events.

    Errors before the first event raise a `ClusterError` (the API layer maps it to a status);
    later failures end the stream with a `Finish` that says why. Cancelling the consumer aborts
    the engine request.

    Each request comes with its `RequestContext`, built at the edge: the tenant, whose limits it
    is held to; the deadline; the call's books, which the pipeline fills in as tokens stream. Every
    engine request gets an id of the gateway's own: a caller's `request_id` is a label for logs only,
    so no caller can reach another's request by naming it.
    """

    def __init__(self, replicas: ReplicaSet, router: Router, admission: Admission, preparer: Preparer,
                 request_timeout_s: float, max_attempts: int, stream, quotas: Quotas | None = None):
        self._replicas = replicas
        self._router = router
        self._admission = admission
        self._quotas = quotas or Quotas()
        self._preparer = preparer
        self.limits = preparer.limits
        self._request_timeout_s = request_timeout_s
        self._max_attempts = max_attempts
        self._stream_tokens = stream  # the replica client: (replica id, actor handle, EngineRequest) → TokenChunks

    def ready_replicas(self) -> int:
        return len(self._replicas.ready())

    def can_serve(self) -> bool:
        return self._replicas.can_serve()

    def context(self, call: Call, request: ChatRequest | GenerateRequest, timeout_s: float | None) -> RequestContext:
        """The request's context, for the edge to build once it has parsed the request."""
        return RequestContext.at_edge(call, request, timeout_s, self._request_timeout_s)

    async def chat(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[ChatEvent]:
        prepared = await self._prepared(self._preparer.chat(request, self._limits(ctx)), ctx)
        engine_request = _engine_request(prepared, request, ctx, (), ignore_eos=False)  # a chat ends with its turn
        parser, stops = ChatParser(), StopMatcher(request.sampling.stop)
        reason, message = FinishReason.STOP, ""
        tokens = self._tokens(engine_request, ctx)
        async with _ends_with_error(ctx.call) as failure, aclosing(tokens) as chunks:
            async for chunk in chunks:
                for event in parser.feed(chunk.token_ids):
                    if isinstance(event, ContentDelta):
                        text = stops.feed(event.text)
                        if text:
                            yield ContentDelta(text)
                        if stops.stopped:
                            break
                    else:
                        yield event
                if stops.stopped:
                    reason = FinishReason.STOP
                    break
                if parser.outcome is not None or chunk.finish is not None:
                    reason = parser.finish_reason(chunk.finish or FinishReason.STOP)
                    message = parser.error
                    if reason is FinishReason.INVALID_OUTPUT:  # the error may quote output: debug level only
                        log.debug("request %s: invalid Harmony output: %s", ctx.label(), message)
                    break
        if failure.error:
            reason, message = FinishReason.ERROR, failure.error
        tail = stops.flush()
        if tail:
            yield ContentDelta(tail)
        yield _usage(ctx.call, parser.reasoning_tokens)
        yield _finish(ctx.call, reason, message)

    async def generate(self, request: GenerateRequest, ctx: RequestContext) -> AsyncIterator[GenerateEvent]:
        prepared = await self._prepared(self._preparer.generate(request, self._limits(ctx)), ctx)
        engine_request = _engine_request(prepared, request, ctx, request.stop_token_ids, request.sampling.ignore_eos)
        decoder, stops = TextDecoder(), StopMatcher(request.sampling.stop)
        reason, message = FinishReason.STOP, ""
        tokens = self._tokens(engine_request, ctx)
        async with _ends_with_error(ctx.call) as failure, aclosing(tokens) as chunks:
            async for chunk in chunks:
                yield TextChunk(chunk.token_ids, stops.feed(decoder.feed(chunk.token_ids)))
                if stops.stopped or chunk.finish is not None:
                    reason = FinishReason.STOP if stops.stopped else chunk.finish
                    break
        if failure.error:
            reason, message = FinishReason.ERROR, failure.error
        tail = stops.feed(decoder.flush()) + stops.flush()
        if tail:
            yield TextChunk([], tail)
        yield _usage(ctx.call)
        yield _finish(ctx.call, reason, message)

    def _limits(self, ctx: RequestContext) -> Limits:
        return self.limits.for_tenant(ctx.tenant.limits.max_context, ctx.tenant.name)

    @staticmethod
    async def _prepared(preparing, ctx: RequestContext) -> Prepared:
        """Waiting for a render worker counts against the deadline too."""
        try:
            async with asyncio.timeout_at(ctx.deadline.at):
                prepared = await preparing
        except TimeoutError:
            raise ctx.deadline.exceeded() from None
        ctx.call.prompt(len(prepared.prompt))
        return prepared

    async def _tokens(self, request: EngineRequest, ctx: RequestContext):
        """Holds the request to its tenant's limits, admits, routes and streams its chunks within its deadline."""
        if not self._replicas.can_serve():
            raise Unavailable(NO_REPLICA)  # with cold start, admission holds it until a replica is ready
        ctx.call.lease = self._quotas.admit(ctx.tenant, ctx.priority_class, len(request.prompt_token_ids))
        route = RouteRequest(request.request_id, request.prompt_token_ids, ctx.session_id, ctx.priority_class)
        try:
            async with (asyncio.timeout_at(ctx.deadline.at),
                        self._admission.slot(ctx.priority_class, ctx.tenant)):
                async with aclosing(self._attempts(request, route, ctx)) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except TimeoutError:
            raise ctx.deadline.exceeded() from None

    async def _attempts(self, request: EngineRequest, route: RouteRequest, ctx: RequestContext):
        """Tries replicas until one streams; a failure before the first token moves the request to
        another replica (at most `max_attempts` in all), a failure after it ends the stream. When no
        replica is left to try, the controller's view is read once more before giving up."""
        failed: list[str] = []
        looked_again = False
        while True:
            replica = self._router.choose(route, exclude=failed)
            if replica is None and failed and not looked_again:
                await self._replicas.look_again()  # a rollout's new replica may be ready already
                looked_again = True
                continue
            if replica is None:
                if failed:
                    raise Unavailable(f"the request failed on {len(failed)} replica(s) before its first token and "
                                      "no other replica is ready; retry the request")
                raise Unavailable(NO_REPLICA)
            try:
                async with aclosing(self._stream(replica, request, ctx)) as chunks:
                    async for chunk in chunks:
                        yield chunk
                return
            except _FailedBeforeFirstToken as failure:
                failed.append(replica.replica_id)
                if len(failed) >= self._max_attempts:
                    raise failure.error from None
                metrics.ROUTING_RETRIES.labels(failure.reason).inc()
                ctx.call.retries += 1
                log.warning("request %s: replica %s failed before the first token (%s); trying another replica "
                            "(attempt %d of %d)", ctx.label(), replica.replica_id, failure.reason,
                            len(failed) + 1, self._max_attempts)

    async def _stream(self, replica: Replica, request: EngineRequest, ctx: RequestContext):
        """One attempt on one replica, with its in-flight count kept. An `InvalidRequest` from the
        engine passes through: the input is at fault, and another replica would refuse it too."""
        streamed = False
        replica.in_flight += 1
        metrics.REPLICA_GATEWAY_IN_FLIGHT.labels(replica.replica_id).set(replica.in_flight)
        try:
            async with aclosing(self._stream_tokens(replica.replica_id, replica.handle, request)) as chunks:
                async for chunk in chunks:
                    ctx.call.tokens(len(chunk.token_ids))
                    streamed = True
                    yield chunk
        except ReplicaDraining:
            # Chosen in the moment between the controller starting a drain and this gateway's next
            # look at the ready set: nothing was generated, another replica takes it.
            self._replicas.mark_draining(replica.replica_id)
            raise _FailedBeforeFirstToken(Unavailable(NO_REPLICA), "replica_draining") from None
        except ReplicaDied:
            self._replicas.mark_failed(replica.replica_id)
            error = Unavailable("the replica serving this request failed; retry the request")
            if streamed:
                raise error from None
            raise _FailedBeforeFirstToken(error, "replica_died") from None
        except ReplicaFailed as exc:
            log.error("replica %s failed request %s: %s", replica.replica_id, ctx.label(), exc)
            error = InternalError("the replica failed while generating; retry the request")
            if streamed:
                raise error from None
            raise _FailedBeforeFirstToken(error, "replica_error") from None
        finally:
            replica.in_flight -= 1
            metrics.REPLICA_GATEWAY_IN_FLIGHT.labels(replica.replica_id).set(replica.in_flight)


def _usage(call: Call, reasoning_tokens: int = 0) -> Usage:
    return Usage(prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                 reasoning_tokens=reasoning_tokens, time_to_first_token_ms=call.ttft_ms(),
                 total_time_ms=(time.monotonic() - call.start) * 1000)


def _finish(call: Call, reason: FinishReason, message: str) -> Finish:
    call.finish_reason = reason
    return Finish(reason, message)


def _engine_priority(request: ChatRequest | GenerateRequest, ctx: RequestContext) -> int:
    offset = BATCH_ENGINE_PRIORITY_OFFSET if ctx.priority_class is PriorityClass.BATCH else 0
    return request.priority + offset


def _engine_request(prepared: Prepared, request: ChatRequest | GenerateRequest, ctx: RequestContext, stop_ids,
                    ignore_eos: bool) -> EngineRequest:
    sampling = request.sampling
    return EngineRequest(
        request_id=ctx.request_id, prompt_token_ids=prepared.prompt, max_tokens=prepared.max_tokens,
        temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed, stop_token_ids=tuple(stop_ids),
        min_tokens=sampling.min_tokens, ignore_eos=ignore_eos, priority=_engine_priority(request, ctx),
        structural_tag=prepared.structural_tag)
