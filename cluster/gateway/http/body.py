"""Request bodies read within limits: declared as JSON, no larger than allowed, sent in time.

The size is checked against Content-Length before reading and again while reading (chunked
bodies declare none), so an oversized body is refused unread, not buffered. Only JSON media types
are accepted: the types a web page may post cross-origin without a CORS preflight (text/plain,
form encodings) are refused, so no page can drive a keyless gateway on localhost.
"""

import asyncio

from starlette.requests import Request

from cluster.errors import RequestTooLarge, SlowClient, UnsupportedMediaType
from cluster.gateway.json_input import BODY, parse_json


async def read_json(request: Request, max_bytes: int, timeout_s: float):
    """The body's JSON value; raises UnsupportedMediaType, RequestTooLarge, SlowClient or InvalidRequest."""
    _check_media_type(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(f"request body: {int(declared)} bytes; at most {max_bytes} are allowed")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise RequestTooLarge(f"request body: more than {max_bytes} bytes; at most {max_bytes} are allowed")
                chunks.append(chunk)
    except TimeoutError:
        raise SlowClient(f"request body: not received in full within {timeout_s:g} s ({size} bytes arrived)") from None
    return parse_json(b"".join(chunks), BODY)


def _check_media_type(content_type: str) -> None:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and
                                                   media_type.endswith("+json")):
        shown = repr(media_type[:60]) if media_type else "none"
        raise UnsupportedMediaType(f"Content-Type: {shown}; send the body as JSON with `Content-Type: "
                                   "application/json`")
