"""The ASGI app of the OpenAI-compatible API; it shares the pipeline (and so the router, Harmony layer,
metrics and error table) with the gRPC server."""

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cluster.errors import ClusterError, InvalidRequest, status_of
from cluster.gateway.accounting import Accountant, Call
from cluster.gateway.context import CALLER
from cluster.gateway.edge import HttpAuth
from cluster.gateway.http import chat, completions, responses, sse
from cluster.gateway.http.body import read_json
from cluster.gateway.http.errors import error_response, invalid_body
from cluster.gateway.pipeline import Pipeline
from cluster.gateway.tenants import Tenants
from cluster.types import PriorityClass

log = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.25


def build_app(pipeline: Pipeline, tenants: Tenants, accountant: Accountant, readiness: Callable[[], tuple[bool, dict]],
              max_body_bytes: int, body_timeout_s: float):
    """The app behind its authentication middleware. `readiness()` → (ready, details), the gateway's
    one view of it (the admin listener serves the same); a body must be at most `max_body_bytes` and
    arrive within `body_timeout_s` of its headers."""
    model = pipeline.limits.model_name

    def endpoint(method: str, body_cls, to_domain, serve, whole, frames):
        """A POST handler: opens the call's books, parses `body_cls`, builds the domain request and its
        context, runs `serve` (the pipeline's chat or generate) and answers whole or as a stream of
        `frames(events, body)`; what fails before a response exists closes the books with its status."""
        async def handle(request: Request) -> Response:
            call = accountant.open("http", method, CALLER.get())
            try:
                body = await _parse(request, body_cls)
                domain = _routing(request, to_domain(body))
                events = serve(domain, pipeline.context(call, domain, _timeout(request)))
                if body.stream:
                    return await _stream(request, call, events, lambda e: frames(e, body))
                return await _whole(request, call, whole(events))
            except BaseException as exc:
                call.close(exc, http_status=499 if isinstance(exc, ClientDisconnect) else status_of(exc)[1])
                raise
        return handle

    chat_completions = endpoint(
        "chat.completions", chat.ChatCompletionBody, chat.to_chat_request, pipeline.chat,
        lambda events: chat.completion(events, model),
        lambda events, body: chat.chunks(events, model,
                                         bool(body.stream_options and body.stream_options.include_usage)))
    text_completions = endpoint(
        "completions", completions.CompletionBody, completions.to_generate_request, pipeline.generate,
        lambda events: completions.completion(events, model),
        lambda events, body: completions.chunks(events, model, bool((body.stream_options or {}).get("include_usage"))))
    create_response = endpoint(
        "responses", responses.ResponsesBody, responses.to_chat_request, pipeline.chat,
        lambda events: responses.response(events, model), lambda events, body: responses.stream(events, model))

    async def list_models(request: Request) -> Response:
        accountant.open("http", "models", CALLER.get()).close(http_status=200)
        return JSONResponse({"object": "list", "data": [{
            "id": model, "object": "model", "created": 0, "owned_by": "oss-cluster",
            "max_model_len": pipeline.limits.max_model_len}]})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        ready, details = readiness()
        return JSONResponse(details, status_code=200 if ready else 503)

    async def _parse(request: Request, model_cls):
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
    app = Starlette(routes=routes, exception_handlers={ClusterError: on_error, Exception: on_error})
    return HttpAuth(app, tenants, accountant)


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


async def _whole(request: Request, call: Call, result: Awaitable[dict]) -> Response:
    """Runs a non-streaming request; a client that disconnects cancels it (and so the engine request)."""
    task = asyncio.ensure_future(result)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                break
            if await request.is_disconnected():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                call.close(asyncio.CancelledError(), http_status=499)
                return Response(status_code=499)
        body = task.result()
    finally:
        if not task.done():
            task.cancel()
    call.close(http_status=200)
    return JSONResponse(body, headers={"X-Request-Id": call.request_id})


async def _stream(request: Request, call: Call, events: AsyncIterator, frame) -> Response:
    """Starts a stream only once its first event exists, so errors before it get a proper status code."""
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise

    async def replay() -> AsyncIterator:
        yield first
        async for e in events:
            yield e

    async def body() -> AsyncIterator[str]:
        error, status = None, 200
        try:
            async for piece in frame(replay()):
                yield piece
        except ClusterError as exc:  # after the first event: say so inside the stream, then end it
            _, status, message = status_of(exc)
            error = exc
            yield sse.data(sse.error_payload(message, status))
            yield sse.DONE
        except BaseException as exc:
            error, status = exc, 499  # the client went away; closing the stream aborted the engine request
            raise
        finally:
            await events.aclose()
            call.close(error, http_status=status)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-Id": call.request_id}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
