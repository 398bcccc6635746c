import grpc
import pytest

from cluster import errors


@pytest.mark.parametrize("error, code, http", [
    (errors.InvalidRequest("messages: required"), grpc.StatusCode.INVALID_ARGUMENT, 400),
    (errors.Unauthenticated("no token"), grpc.StatusCode.UNAUTHENTICATED, 401),
    (errors.ModelNotFound("model: x"), grpc.StatusCode.NOT_FOUND, 404),
    (errors.Overloaded("queue full", retry_after_s=2), grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (errors.Unavailable("no replica"), grpc.StatusCode.UNAVAILABLE, 503),
    (errors.DeadlineExceeded("late"), grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (errors.InternalError("bug"), grpc.StatusCode.INTERNAL, 500),
    (errors.RequestTooLarge("body: 2 GiB"), grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    (errors.UnsupportedMediaType("text/plain"), grpc.StatusCode.INVALID_ARGUMENT, 415),
    (errors.SlowClient("body late"), grpc.StatusCode.DEADLINE_EXCEEDED, 408),
])
def test_every_cluster_error_maps_to_its_status(error, code, http):
    assert errors.status_of(error) == (code, http, str(error))


def test_unexpected_exceptions_never_leak_their_text():
    code, http, message = errors.status_of(KeyError("/secret/path in Traceback"))
    assert (code, http) == (grpc.StatusCode.INTERNAL, 500)
    assert message == errors.INTERNAL_MESSAGE and "secret" not in message


def test_subclasses_map_like_their_base():
    class PromptTooLong(errors.InvalidRequest):
        pass

    assert errors.status_of(PromptTooLong("x"))[0] is grpc.StatusCode.INVALID_ARGUMENT
