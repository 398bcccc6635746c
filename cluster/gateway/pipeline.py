"""The request path shared by every API: validate, render, route, stream tokens, parse, measure."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass

from cluster import metrics
from cluster.errors import ClusterError, DeadlineExceeded, InternalError, Unavailable
from cluster.gateway.admission import Admission
from cluster.gateway.prepare import Prepared, Preparer
from cluster.gateway.stop_strings import StopMatcher
from cluster.harmony.parse import ChatParser
from cluster.harmony.text import TextDecoder
from cluster.replica.client import ReplicaDied, ReplicaDraining, ReplicaFailed
from cluster.router.policy import RouteRequest
from cluster.router.replica_set import Replica, ReplicaSet
from cluster.router.router import Router
from cluster.types import (ChatEvent, ChatRequest, ContentDelta, EngineRequest, Finish, FinishReason, GenerateEvent,
                           GenerateRequest, PriorityClass, TextChunk, TokenChunk, Usage)

log = logging.getLogger(__name__)

# vLLM schedules lower priority values first; batch requests sit behind every interactive one
# whatever their own priority (which is within [-100, 100]).
BATCH_ENGINE_PRIORITY_OFFSET = 1000
NO_REPLICA = "no replica is ready to serve; the cluster is starting or replacing replicas, retry in a few seconds"


@dataclass
class _Timing:
    """Token counts and timings of one request, filled in while it streams."""

    method: str
    prompt_tokens: int
    start: float
    first_token: float | None = None
    last_token: float | None = None
    completion_tokens: int = 0

    def record(self, chunk: TokenChunk) -> None:
        now = time.monotonic()
        n = len(chunk.token_ids)
        if not n:
            return
        if self.first_token is None:
            self.first_token = now
            metrics.TIME_TO_FIRST_TOKEN.labels(self.method).observe(now - self.start)
        elif self.last_token is not None:
            gap = (now - self.last_token) / n
            for _ in range(n):
                metrics.INTER_TOKEN_LATENCY.labels(self.method).observe(gap)
        self.last_token = now
        self.completion_tokens += n

    def usage(self, reasoning_tokens: int = 0) -> Usage:
        ttft = (self.first_token - self.start) * 1000 if self.first_token else 0.0
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                     reasoning_tokens=reasoning_tokens, time_to_first_token_ms=ttft,
                     total_time_ms=(time.monotonic() - self.start) * 1000)


class _Failure:
    error = ""


@dataclass(frozen=True)
class _Deadline:
    """When a request must be done, on the event loop's clock; preparing, queueing and streaming all count."""

    at: float
    seconds: float

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"the request did not finish within its deadline of {self.seconds:.1f} s")


@asynccontextmanager
async def _ends_with_error(timing: _Timing):
    """Before the first token a failure raises (the caller gets a status and may retry); after it,
    the stream ends with finish reason `error` so the caller keeps what it already received.
    A passed deadline always raises."""
    failure = _Failure()
    try:
        yield failure
    except ClusterError as exc:
        if timing.first_token is None or isinstance(exc, DeadlineExceeded):
            raise  # a deadline is the caller's own limit: it ends the call as such, tokens or not
        log.warning("stream failed after %d tokens: %s", timing.completion_tokens, exc)
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

    Every engine request gets an id of the gateway's own: a caller's `request_id` is a label for
    logs only, so no caller can reach another's request by naming it.
    """

    def __init__(self, replicas: ReplicaSet, router: Router, admission: Admission, preparer: Preparer,
                 request_timeout_s: float, max_attempts: int, stream):
        self._replicas = replicas
        self._router = router
        self._admission = admission
        self._preparer = preparer
        self.limits = preparer.limits
        self._request_timeout_s = request_timeout_s
        self._max_attempts = max_attempts
        self._stream_tokens = stream  # the replica client: (replica id, actor handle, EngineRequest) → TokenChunks

    def ready_replicas(self) -> int:
        return len(self._replicas.ready())

    def can_serve(self) -> bool:
        return self._replicas.can_serve()

    async def chat(self, request: ChatRequest, timeout_s: float | None = None) -> AsyncIterator[ChatEvent]:
        start, deadline = time.monotonic(), self._deadline(timeout_s)
        prepared = await self._prepared(self._preparer.chat(request), deadline)
        engine_request = _engine_request(prepared, request, (), ignore_eos=False)  # a chat answer ends with its turn
        timing = _Timing("Chat", len(prepared.prompt), start)
        parser, stops = ChatParser(), StopMatcher(request.sampling.stop)
        reason, message = FinishReason.STOP, ""
        tokens = self._tokens(engine_request, _route(engine_request, request), timing, deadline,
                              _label(engine_request, request))
        async with _ends_with_error(timing) as failure, aclosing(tokens) as chunks:
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
                        log.debug("request %s: invalid Harmony output: %s", _label(engine_request, request), message)
                    break
        if failure.error:
            reason, message = FinishReason.ERROR, failure.error
        tail = stops.flush()
        if tail:
            yield ContentDelta(tail)
        yield timing.usage(parser.reasoning_tokens)
        yield self._finish(timing, reason, message)

    async def generate(self, request: GenerateRequest, timeout_s: float | None = None) -> AsyncIterator[GenerateEvent]:
        start, deadline = time.monotonic(), self._deadline(timeout_s)
        prepared = await self._prepared(self._preparer.generate(request), deadline)
        engine_request = _engine_request(prepared, request, request.stop_token_ids, request.sampling.ignore_eos)
        timing = _Timing("Generate", len(prepared.prompt), start)
        decoder, stops = TextDecoder(), StopMatcher(request.sampling.stop)
        reason, message = FinishReason.STOP, ""
        tokens = self._tokens(engine_request, _route(engine_request, request), timing, deadline,
                              _label(engine_request, request))
        async with _ends_with_error(timing) as failure, aclosing(tokens) as chunks:
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
        yield timing.usage()
        yield self._finish(timing, reason, message)

    def _deadline(self, timeout_s: float | None) -> _Deadline:
        """The caller's deadline, at most `request_timeout_s`; that when it set none."""
        seconds = self._request_timeout_s if timeout_s is None else max(0.0, min(timeout_s, self._request_timeout_s))
        return _Deadline(asyncio.get_running_loop().time() + seconds, seconds)

    @staticmethod
    async def _prepared(preparing, deadline: _Deadline) -> Prepared:
        """Waiting for a render worker counts against the deadline too."""
        try:
            async with asyncio.timeout_at(deadline.at):
                return await preparing
        except TimeoutError:
            raise deadline.exceeded() from None

    async def _tokens(self, request: EngineRequest, route: RouteRequest, timing: _Timing, deadline: _Deadline,
                      label: str):
        """Admits, routes and streams the request's chunks within its deadline."""
        if not self._replicas.can_serve():
            raise Unavailable(NO_REPLICA)  # with cold start, admission holds it until a replica is ready
        try:
            async with asyncio.timeout_at(deadline.at), self._admission.slot(route.priority_class):
                async with aclosing(self._attempts(request, route, timing, label)) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except TimeoutError:
            raise deadline.exceeded() from None

    async def _attempts(self, request: EngineRequest, route: RouteRequest, timing: _Timing, label: str):
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
                async with aclosing(self._stream(replica, request, timing, label)) as chunks:
                    async for chunk in chunks:
                        yield chunk
                return
            except _FailedBeforeFirstToken as failure:
                failed.append(replica.replica_id)
                if len(failed) >= self._max_attempts:
                    raise failure.error from None
                metrics.ROUTING_RETRIES.labels(failure.reason).inc()
                log.warning("request %s: replica %s failed before the first token (%s); trying another replica "
                            "(attempt %d of %d)", label, replica.replica_id, failure.reason,
                            len(failed) + 1, self._max_attempts)

    async def _stream(self, replica: Replica, request: EngineRequest, timing: _Timing, label: str):
        """One attempt on one replica, with its in-flight count kept. An `InvalidRequest` from the
        engine passes through: the input is at fault, and another replica would refuse it too."""
        streamed = False
        replica.in_flight += 1
        metrics.REPLICA_GATEWAY_IN_FLIGHT.labels(replica.replica_id).set(replica.in_flight)
        try:
            async with aclosing(self._stream_tokens(replica.replica_id, replica.handle, request)) as chunks:
                async for chunk in chunks:
                    timing.record(chunk)
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
            log.error("replica %s failed request %s: %s", replica.replica_id, label, exc)
            error = InternalError("the replica failed while generating; retry the request")
            if streamed:
                raise error from None
            raise _FailedBeforeFirstToken(error, "replica_error") from None
        finally:
            replica.in_flight -= 1
            metrics.REPLICA_GATEWAY_IN_FLIGHT.labels(replica.replica_id).set(replica.in_flight)

    @staticmethod
    def _finish(timing: _Timing, reason: FinishReason, message: str) -> Finish:
        metrics.END_TO_END_LATENCY.labels(timing.method).observe(time.monotonic() - timing.start)
        metrics.PROMPT_TOKENS.labels(timing.method).inc(timing.prompt_tokens)
        metrics.COMPLETION_TOKENS.labels(timing.method).inc(timing.completion_tokens)
        metrics.FINISHES.labels(timing.method, reason.value).inc()
        return Finish(reason, message)


def _engine_priority(request: ChatRequest | GenerateRequest) -> int:
    offset = BATCH_ENGINE_PRIORITY_OFFSET if request.priority_class is PriorityClass.BATCH else 0
    return request.priority + offset


def _route(engine_request: EngineRequest, request: ChatRequest | GenerateRequest) -> RouteRequest:
    return RouteRequest(engine_request.request_id, engine_request.prompt_token_ids, request.session_id,
                        request.priority_class)


def _engine_request(prepared: Prepared, request: ChatRequest | GenerateRequest, stop_ids,
                    ignore_eos: bool) -> EngineRequest:
    sampling = request.sampling
    return EngineRequest(
        request_id=uuid.uuid4().hex, prompt_token_ids=prepared.prompt, max_tokens=prepared.max_tokens,
        temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed, stop_token_ids=tuple(stop_ids),
        min_tokens=sampling.min_tokens, ignore_eos=ignore_eos, priority=_engine_priority(request),
        structural_tag=prepared.structural_tag)


def _label(engine_request: EngineRequest, request: ChatRequest | GenerateRequest) -> str:
    """How logs name a request: the gateway's id, and the caller's where it gave one."""
    if request.request_id:
        return f"{engine_request.request_id} (caller's id {request.request_id})"
    return engine_request.request_id
