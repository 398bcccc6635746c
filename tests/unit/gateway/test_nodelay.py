"""Every accepted HTTP and gRPC connection has TCP_NODELAY: a response's headers and its first chunk, or
a stream's small messages, must not wait for the client's delayed ACK (~40 ms each)."""

import asyncio
import os
import socket

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.gateway.accounting import Accountant
from cluster.gateway.grpc_server import GrpcGateway
from cluster.gateway.http.server import HttpGateway
from cluster.gateway.tenants import Tenants
from loadtest.local_cluster import free_port
from tests.factories import ok_app


def accepted_nodelay(port: int) -> list[int]:
    """TCP_NODELAY of each connected socket of this process that was accepted on `port`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            s = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        with s:
            try:
                accepted = (s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_STREAM
                            and s.getsockname()[1] == port and s.getpeername())
            except OSError:  # not connected, or not an inet socket
                continue
            if accepted:
                found.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return found


async def test_http_connections_have_nodelay():
    port = free_port()
    gateway = HttpGateway(ok_app, "127.0.0.1", port, grace_s=1, header_timeout_s=5)
    await gateway.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
        nodelay = accepted_nodelay(port)
        assert nodelay and all(nodelay), nodelay
        writer.close()
    finally:
        await gateway.stop()


async def test_grpc_connections_have_nodelay():
    port = free_port()
    gateway = GrpcGateway(pipeline=None, tenants=Tenants(), accountant=Accountant("m"), host="127.0.0.1", port=port,
                          max_request_bytes=1 << 20)
    await gateway.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            nodelay = accepted_nodelay(port)
            assert nodelay and all(nodelay), nodelay
    finally:
        await gateway.stop(grace_s=0)

