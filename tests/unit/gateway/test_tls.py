"""TLS and mutual TLS on both APIs, and the admin listener that stays plain for probes and scrapers."""

import json
import ssl
import urllib.error
import urllib.request

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.config import ConfigError, parse_config
from cluster.gateway.accounting import Accountant
from cluster.gateway.admin import start_admin
from cluster.gateway.grpc_server import GrpcGateway
from cluster.gateway.http.server import HttpGateway
from cluster.gateway.tenants import Tenants
from cluster.gateway.tls import ServerTls
from loadtest.local_cluster import free_port
from tests.factories import ok_app
from tests.certs import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_https_and_mutual_tls_on_the_http_api(pki):
    for tls in (ServerTls(str(pki.server_cert), str(pki.server_key)),
                ServerTls(str(pki.server_cert), str(pki.server_key), str(pki.ca))):
        port = free_port()
        gateway = HttpGateway(ok_app, "127.0.0.1", port, grace_s=1, header_timeout_s=5, tls=tls)
        await gateway.start()
        try:
            url = f"https://127.0.0.1:{port}/"
            with_cert = ssl.create_default_context(cafile=str(pki.ca))
            with_cert.load_cert_chain(str(pki.client_cert), str(pki.client_key))
            async with httpx.AsyncClient(verify=with_cert) as client:
                assert (await client.get(url)).text == "ok"
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(pki.ca))) as client:
                if tls.client_ca_file:  # mutual TLS: no client certificate, no answer
                    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                        await client.get(url)
                else:
                    assert (await client.get(url)).text == "ok"
            async with httpx.AsyncClient() as client:  # plaintext to a TLS port gets nothing
                with pytest.raises(httpx.HTTPError):
                    await client.get(f"http://127.0.0.1:{port}/")
        finally:
            await gateway.stop()


async def test_mutual_tls_on_the_grpc_api(pki):
    port = free_port()
    tls = ServerTls(str(pki.server_cert), str(pki.server_key), str(pki.ca))
    gateway = GrpcGateway(pipeline=None, tenants=Tenants(), accountant=Accountant("m"), host="127.0.0.1", port=port,
                          max_request_bytes=1 << 20, tls=tls)
    await gateway.start()
    try:
        def check(credentials) -> int:
            async def call():
                async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
                    return (await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                                             timeout=5)).status
            return call()

        ca = pki.ca.read_bytes()
        with_cert = grpc.ssl_channel_credentials(ca, pki.client_key.read_bytes(), pki.client_cert.read_bytes())
        status = await check(with_cert)
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING  # answered: the handshake passed
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await check(grpc.ssl_channel_credentials(ca))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await gateway.stop(0)


def test_the_admin_listener_serves_metrics_and_health_apart_from_the_apis():
    port, state = free_port(), {"ready": False, "alive": True}
    server = start_admin("127.0.0.1", port, lambda: (state["ready"], {"ready_replicas": int(state["ready"])}),
                         lambda: state["alive"])
    try:
        base = f"http://127.0.0.1:{port}"
        assert json.load(urllib.request.urlopen(f"{base}/healthz", timeout=5)) == {"status": "alive"}
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        assert not_ready.value.code == 503
        state["ready"] = True
        assert json.load(urllib.request.urlopen(f"{base}/readyz", timeout=5)) == {"ready_replicas": 1}
        assert b"oss_cluster_requests_total" in urllib.request.urlopen(f"{base}/metrics", timeout=5).read()
        state["alive"] = False  # the event loop stopped turning: the kubelet restarts the pod
        with pytest.raises(urllib.error.HTTPError) as dead:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert dead.value.code == 503
    finally:
        server.shutdown()
        server.server_close()


def test_tls_settings_are_checked_at_start(pki, tmp_path):
    with pytest.raises(ConfigError, match="set both gateway.tls_cert_file and gateway.tls_key_file"):
        parse_config({"gateway": {"tls_cert_file": str(pki.server_cert)}})
    with pytest.raises(ConfigError, match="tls_client_ca_file: needs gateway.tls_cert_file"):
        parse_config({"gateway": {"tls_client_ca_file": str(pki.ca)}})
    with pytest.raises(ConfigError, match="cannot load the certificate and its key"):
        ServerTls(str(pki.server_cert), str(pki.client_key)).check()  # a key of another certificate
    ServerTls(str(pki.server_cert), str(pki.server_key), str(pki.ca)).check()
