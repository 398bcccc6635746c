"""The ASGI app of the OpenAI-compatible API; it shares the pipeline (and so the router, Harmony layer,
metrics and error table) with the gRPC server."""

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cluster import metrics
from cluster.errors import ClusterError, InvalidRequest, status_of
from cluster.gateway.auth import Authenticator
from cluster.gateway.http import chat, completions, responses, sse
from cluster.gateway.http.body import read_json
from cluster.gateway.http.errors import error_response, invalid_body
from cluster.gateway.pipeline import Pipeline
from cluster.types import PriorityClass

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.25
READY_PROGRESS_S = 30.0  # /readyz fails if the replica view was not refreshed for this long


def build_app(pipeline: Pipeline, auth: Authenticator, progress: Callable[[], float], max_body_bytes: int,
              body_timeout_s: float) -> Starlette:
    """`progress()` returns the monotonic time the gateway last heard from the replicas; a body
    must be at most `max_body_bytes` and arrive within `body_timeout_s` of its headers."""
    model = pipeline.limits.model_name

    async def chat_completions(request: Request) -> Response:
        body = await _parse(request, chat.ChatCompletionBody)
        events = pipeline.chat(_routing(request, chat.to_chat_request(body)), _timeout(request))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await _stream(request, "chat.completions", events, lambda e: chat.chunks(e, model, include_usage))
        return await _whole(request, "chat.completions", chat.completion(events, model))

    async def text_completions(request: Request) -> Response:
        body = await _parse(request, completions.CompletionBody)
        events = pipeline.generate(_routing(request, completions.to_generate_request(body)), _timeout(request))
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return await _stream(request, "completions", events,
                                 lambda e: completions.chunks(e, model, include_usage))
        return await _whole(request, "completions", completions.completion(events, model))

    async def create_response(request: Request) -> Response:
        body = await _parse(request, responses.ResponsesBody)
        events = pipeline.chat(_routing(request, responses.to_chat_request(body)), _timeout(request))
        if body.stream:
            return await _stream(request, "responses", events, lambda e: responses.stream(e, model))
        return await _whole(request, "responses", responses.response(events, model))

    async def list_models(request: Request) -> Response:
        auth.check(request.headers.get("authorization"))
        return JSONResponse({"object": "list", "data": [{
            "id": model, "object": "model", "created": 0, "owned_by": "oss-cluster",
            "max_model_len": pipeline.limits.max_model_len}]})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        ready = pipeline.ready_replicas()
        fresh = time.monotonic() - progress() < READY_PROGRESS_S
        status = 200 if pipeline.can_serve() and fresh else 503
        return JSONResponse({"ready_replicas": ready, "replica_view_fresh": fresh}, status_code=status)

    async def _parse(request: Request, model_cls):
        auth.check(request.headers.get("authorization"))
        body = await read_json(request, max_body_bytes, body_timeout_s)
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        try:
            return model_cls.model_validate(body)
        except ValidationError as exc:
            raise invalid_body(exc) from None

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect):  # it left while sending its body: nobody reads an answer
            return Response(status_code=499)
        if not isinstance(exc, ClusterError):
            log.exception("HTTP %s failed", request.url.path)
        return error_response(exc)

    routes = [Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/completions", text_completions, methods=["POST"]),
              Route("/v1/responses", create_response, methods=["POST"]),
              Route("/v1/models", list_models, methods=["GET"]),
              Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers={ClusterError: on_error, Exception: on_error})


def _routing(request: Request, domain_request):
    """The session and priority class from `X-Session-Id` and `X-Priority-Class` (interactive | batch)."""
    raw_class = request.headers.get("x-priority-class", PriorityClass.INTERACTIVE.value).strip().lower()
    try:
        priority_class = PriorityClass(raw_class)
    except ValueError:
        raise InvalidRequest(f"X-Priority-Class: {raw_class[:40]!r}; allowed: interactive, batch") from None
    return dataclasses.replace(domain_request, priority_class=priority_class,
                               session_id=request.headers.get("x-session-id", ""))


def _timeout(request: Request) -> float | None:
    """The caller's deadline in seconds from `X-Request-Timeout` (HTTP has no deadline of its own)."""
    raw = request.headers.get("x-request-timeout")
    if raw is None:
        return None
    try:
        timeout = float(raw)
    except ValueError:
        timeout = float("nan")
    if not 0 < timeout < 1e6:
        raise InvalidRequest("X-Request-Timeout: must be a number of seconds greater than 0")
    return timeout


async def _whole(request: Request, method: str, result: Awaitable[dict]) -> Response:
    """Runs a non-streaming request; a client that disconnects cancels it (and so the engine request)."""
    metrics.IN_FLIGHT.labels(method).inc()
    task = asyncio.ensure_future(result)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                break
            if await request.is_disconnected():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                metrics.REQUESTS.labels(method, "499").inc()
                return Response(status_code=499)
        body = task.result()
    except Exception as exc:
        metrics.REQUESTS.labels(method, str(status_of(exc)[1])).inc()
        raise
    finally:
        metrics.IN_FLIGHT.labels(method).dec()
        if not task.done():
            task.cancel()
    metrics.REQUESTS.labels(method, "200").inc()
    return JSONResponse(body)


async def _stream(request: Request, method: str, events: AsyncIterator, frame) -> Response:
    """Starts a stream only once its first event exists, so errors before it get a proper status code."""
    try:
        first = await anext(events)
    except Exception as exc:
        await events.aclose()
        metrics.REQUESTS.labels(method, str(status_of(exc)[1])).inc()
        raise

    async def replay() -> AsyncIterator:
        yield first
        async for e in events:
            yield e

    async def body() -> AsyncIterator[str]:
        metrics.IN_FLIGHT.labels(method).inc()
        code = "200"
        try:
            async for piece in frame(replay()):
                yield piece
        except ClusterError as exc:  # after the first event: say so inside the stream, then end it
            _, status, message = status_of(exc)
            code = str(status)
            yield sse.data(sse.error_payload(message, status))
            yield sse.DONE
        except BaseException:
            code = "499"  # the client went away; closing the stream aborted the engine request
            raise
        finally:
            await events.aclose()
            metrics.IN_FLIGHT.labels(method).dec()
            metrics.REQUESTS.labels(method, code).inc()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
