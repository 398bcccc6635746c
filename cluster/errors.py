"""Errors a request can meet, and the one table that maps them to gRPC status and HTTP codes.

Messages are written for the caller: they say what was wrong and what to do, never a stack trace.
"""

import grpc


class ClusterError(Exception):
    """Base of every error the gateway reports to a caller."""


class InvalidRequest(ClusterError):
    """The request is malformed or asks for something impossible; retrying it unchanged fails again."""


class RequestTooLarge(InvalidRequest):
    """The request body is larger than the gateway accepts (HTTP 413); it was not read in full."""


class UnsupportedMediaType(InvalidRequest):
    """The HTTP body is not declared as JSON (HTTP 415)."""


class SlowClient(InvalidRequest):
    """The client did not send its request within the gateway's read timeout (HTTP 408)."""


class Unauthenticated(ClusterError):
    """The caller did not prove who it is."""


class PermissionDenied(ClusterError):
    """The caller is known but may not ask for this (a priority class its tenant may not use)."""


class ModelNotFound(ClusterError):
    """The request names a model this gateway does not serve."""


class Overloaded(ClusterError):
    """The gateway sheds the request; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(ClusterError):
    """No ready replica can take the request now, or the replica failed; retrying later may work."""


class DeadlineExceeded(ClusterError):
    """The request's deadline passed before it finished."""


class InternalError(ClusterError):
    """A bug or an unexpected failure inside the cluster."""


# error class → (gRPC status, HTTP status)
# (a subclass's own row wins over its base's)
STATUS_TABLE: dict[type[ClusterError], tuple[grpc.StatusCode, int]] = {
    InvalidRequest: (grpc.StatusCode.INVALID_ARGUMENT, 400),
    RequestTooLarge: (grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    UnsupportedMediaType: (grpc.StatusCode.INVALID_ARGUMENT, 415),
    SlowClient: (grpc.StatusCode.DEADLINE_EXCEEDED, 408),
    Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, 401),
    PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, 403),
    ModelNotFound: (grpc.StatusCode.NOT_FOUND, 404),
    Overloaded: (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    Unavailable: (grpc.StatusCode.UNAVAILABLE, 503),
    DeadlineExceeded: (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    InternalError: (grpc.StatusCode.INTERNAL, 500),
}

INTERNAL_MESSAGE = "internal error in the cluster; the request was not completed, retry it or report the request id"


def status_of(error: BaseException) -> tuple[grpc.StatusCode, int, str]:
    """The gRPC status, HTTP status and caller-facing message for any exception.

    Exceptions that are not `ClusterError`s are bugs: their text may hold internals, so the
    caller gets a generic message and the details go to the log only.
    """
    for cls in type(error).__mro__:
        if cls in STATUS_TABLE:
            code, http = STATUS_TABLE[cls]
            return code, http, str(error)
    code, http = STATUS_TABLE[InternalError]
    return code, http, INTERNAL_MESSAGE
