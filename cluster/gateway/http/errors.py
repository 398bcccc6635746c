"""Errors in OpenAI's JSON shape, with status codes from the one table in cluster.errors."""

from pydantic import ValidationError
from starlette.responses import JSONResponse

from cluster.errors import InvalidRequest, Overloaded, RequestTooLarge, SlowClient, status_of

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          408: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
          429: "rate_limit_error", 503: "service_unavailable", 504: "timeout"}


def error_response(error: BaseException) -> JSONResponse:
    _, status, message = status_of(error)
    headers = {}
    if isinstance(error, Overloaded):
        headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
    if isinstance(error, (RequestTooLarge, SlowClient)):  # the body was not read in full: end the connection
        headers["Connection"] = "close"
    body = {"error": {"message": message, "type": _TYPES.get(status, "server_error"), "param": None,
                      "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def invalid_body(error: ValidationError) -> InvalidRequest:
    """The first problem pydantic found, as `field.path: what is wrong`."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return InvalidRequest(f"{where}: {first['msg']}")
