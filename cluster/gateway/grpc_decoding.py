"""Requests that do not decode as their message type get INVALID_ARGUMENT, not UNKNOWN.

gRPC decodes a request before any handler runs and answers a decoding failure with UNKNOWN and
the Python exception's class name. This interceptor wraps every method's decoder so that such a
request reaches a guard instead, which ends the call with INVALID_ARGUMENT and a message for the
caller: wrong message bytes, or a string field that is not UTF-8.
"""

import grpc
from google.protobuf import descriptor_pool

from cluster.gateway.grpc_wrap import before_behavior, wrap_handler


class _Undecodable:
    """Stands in for a request message that failed to decode."""


UNDECODABLE = _Undecodable()


class DecodeGuard(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        message = (f"the request is not a valid {_input_type(handler_call_details.method)} message: it could not be "
                   "decoded (corrupt bytes, or a string field that is not UTF-8); build the client from this "
                   "server's proto files")
        decode = handler.request_deserializer

        def lenient(data: bytes):
            try:
                return decode(data)
            except Exception:
                return UNDECODABLE

        return wrap_handler(handler._replace(request_deserializer=lenient),
                            lambda behavior: _guarded(behavior, handler.request_streaming, message))


def _guarded(behavior, request_streaming: bool, message: str):
    async def checked(request, context):
        if request is UNDECODABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        return request

    async def checked_stream(requests, context):
        async for request in requests:
            yield await checked(request, context)

    async def step(request, context):
        return checked_stream(request, context) if request_streaming else await checked(request, context)
    return before_behavior(behavior, step)


def _input_type(method: str) -> str:
    """"/cluster.v1.Inference/Chat" → "cluster.v1.ChatRequest"."""
    service, _, name = method.strip("/").rpartition("/")
    try:
        return descriptor_pool.Default().FindMethodByName(f"{service}.{name}").input_type.full_name
    except KeyError:
        return f"{method} request"
