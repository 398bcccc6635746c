"""Undecodable requests on a real grpc.aio server: INVALID_ARGUMENT for every kind of method."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from cluster.gateway.grpc_decoding import DecodeGuard


def call(kind: str, method: str, payload: bytes, stream_requests: bool = False):
    async def main():
        server = grpc.aio.server(interceptors=[DecodeGuard()])
        servicer = health.aio.HealthServicer()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        reflection.enable_server_reflection((health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                rpc = getattr(channel, kind)(method)
                if kind == "unary_unary":
                    return await rpc(payload, timeout=10)
                if kind == "unary_stream":
                    async for response in rpc(payload, timeout=10):
                        return response
                async for response in rpc(iter([payload]), timeout=10):
                    return response
        finally:
            await server.stop(0)

    return asyncio.run(main())


GOOD_CHECK = health_pb2.HealthCheckRequest(service="").SerializeToString()
GARBAGE = b"\xff\xff\xff"


@pytest.mark.parametrize("kind, method, type_name", [
    ("unary_unary", "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"),
    ("unary_stream", "/grpc.health.v1.Health/Watch", "grpc.health.v1.HealthCheckRequest"),
    ("stream_stream", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
     "grpc.reflection.v1alpha.ServerReflectionRequest"),
])
def test_garbage_is_invalid_argument_naming_the_message_type(kind, method, type_name):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        call(kind, method, GARBAGE)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert type_name in err.value.details() and "DecodeError" not in err.value.details()


def test_good_requests_still_reach_their_handlers():
    assert health_pb2.HealthCheckResponse.FromString(call("unary_unary", "/grpc.health.v1.Health/Check", GOOD_CHECK)
                                                     ).status == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.FromString(call("unary_stream", "/grpc.health.v1.Health/Watch", GOOD_CHECK)
                                                     ).status == health_pb2.HealthCheckResponse.SERVING
    listing = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    reply = reflection_pb2.ServerReflectionResponse.FromString(call(
        "stream_stream", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", listing))
    assert health.SERVICE_NAME in {s.name for s in reply.list_services_response.service}
