"""Tenants on the real stack, over mutual TLS: keys on both APIs, per-tenant limits, fair admission,
reload, audit, metrics. The official openai client and a gRPC channel hold a client certificate."""

import functools
import json
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import openai
import pytest
from openai import OpenAI

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.gateway.tenants import hash_key
from tests.certs import make_pki
from tests.e2e.conftest import running_cluster, wait_for

KEYS = {"burst": "sk-burst-4f1c0e9a7b2d", "steady": "sk-steady-8a3e5c1f0d7b", "limited": "sk-limited-2b9d4e6a1c3f"}
SECRET_WORD = "marmalade-osprey"  # in prompts only: it must never reach a log


def tenants_yaml(extra: str = "") -> str:
    return ("tenants:\n"
            f"  burst: {{keys: ['{hash_key(KEYS['burst'])}']}}\n"
            f"  steady: {{keys: ['{hash_key(KEYS['steady'])}']}}\n"
            f"  limited: {{keys: ['{hash_key(KEYS['limited'])}'], requests_per_minute: 3, max_context: 200,\n"
            "            priority_classes: [batch]}\n" + extra)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    work = tmp_path_factory.mktemp("tenants")
    (work / "tenants.yaml").write_text(tenants_yaml())
    pki = make_pki(work)
    gateway = (f"  tenants_file: {work / 'tenants.yaml'}\n  audit_log: {work / 'audit.jsonl'}\n"
               f"  tls_cert_file: {pki.server_cert}\n  tls_key_file: {pki.server_key}\n"
               f"  tls_client_ca_file: {pki.ca}\n")
    # one request at a time, so the order a queue serves tenants in shows
    admission = "admission:\n  max_in_flight_per_replica: 1\n  max_queue: 64\n  max_queue_wait_s: 120\n"
    with running_cluster(work, admission, gateway_yaml=gateway) as cluster:
        _PKI[cluster.http_url] = pki
        yield cluster, work


_PKI = {}


@functools.cache
def _client(http_url: str, key: str) -> OpenAI:
    pki = _PKI[http_url]
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    tls = httpx.Client(verify=context, timeout=120)
    return OpenAI(base_url=f"{http_url.replace('http://', 'https://')}/v1", api_key=key, max_retries=0,
                  http_client=tls)


def client(cluster, tenant: str) -> OpenAI:
    """One client per key, shared by threads (making one takes a quarter of a second of held GIL)."""
    return _client(cluster.http_url, KEYS.get(tenant, tenant))


def stub_of(cluster) -> pb_grpc.InferenceStub:
    pki = _PKI[cluster.http_url]
    credentials = grpc.ssl_channel_credentials(pki.ca.read_bytes(), pki.client_key.read_bytes(),
                                               pki.client_cert.read_bytes())
    return pb_grpc.InferenceStub(grpc.secure_channel(cluster.grpc_target, credentials))


def complete(cluster, tenant: str, max_tokens: int = 4, **kwargs):
    return client(cluster, tenant).completions.create(model="", prompt=f"{SECRET_WORD} says", max_tokens=max_tokens,
                                                      **kwargs)


def test_keys_are_checked_on_both_apis(tenants):
    cluster, _ = tenants
    assert complete(cluster, "steady").usage.completion_tokens == 4
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        complete(cluster, "sk-not-a-key")
    stub = stub_of(cluster)
    request = pb.GenerateRequest(text="hi", sampling=pb.Sampling(max_tokens=2))
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.Generate(request, timeout=30))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and "missing API key" in refused.value.details()
    events = list(stub.Generate(request, timeout=30, metadata=[("authorization", f"Bearer {KEYS['steady']}")]))
    assert events[-1].HasField("finish")


def test_a_tenants_limits_answer_with_a_clear_status(tenants):
    cluster, _ = tenants
    batch = {"extra_headers": {"X-Priority-Class": "batch"}}
    with pytest.raises(openai.PermissionDeniedError, match="'interactive' is not allowed for tenant limited"):
        complete(cluster, "limited")
    with pytest.raises(openai.BadRequestError, match="exceeds tenant limited's context of 200 tokens"):
        complete(cluster, "limited", max_tokens=500, **batch)
    for _ in range(3):  # the minute's three requests: the refusals above took none of them
        assert complete(cluster, "limited", **batch).usage.completion_tokens == 4
    with pytest.raises(openai.RateLimitError, match="used its 3 requests per minute") as limited:
        complete(cluster, "limited", **batch)
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert complete(cluster, "steady").usage.completion_tokens == 4  # the other tenants are not held back
    stub = stub_of(cluster)
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.Generate(pb.GenerateRequest(text="hi", sampling=pb.Sampling(max_tokens=2),
                                              priority_class=pb.PRIORITY_CLASS_BATCH),
                           timeout=30, metadata=[("authorization", f"Bearer {KEYS['limited']}")]))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(refused.value.trailing_metadata())["grpc-retry-pushback-ms"]) >= 1000
    assert cluster.metric("oss_cluster_shed_requests_total", tenant="limited", reason="requests_per_minute") >= 2
    assert cluster.metric("oss_cluster_requests_total", tenant="limited", code="RESOURCE_EXHAUSTED", api="http") >= 1
    assert cluster.metric("oss_cluster_requests_total", tenant="limited", code="PERMISSION_DENIED") == 1


def test_one_tenants_burst_does_not_make_another_wait_behind_it(tenants):
    """Twelve requests of one tenant queue for the only slot; another tenant's single request, sent
    after them, is served before most of them, not after all twelve (~1 s each here)."""
    cluster, _ = tenants
    finished: list[str] = []
    lock = threading.Lock()

    def run(tenant: str, name: str) -> None:
        complete(cluster, tenant, max_tokens=48)
        with lock:
            finished.append(name)

    with ThreadPoolExecutor(13) as pool:
        burst = [pool.submit(run, "burst", f"burst{i}") for i in range(12)]
        wait_for(lambda: cluster.metric("oss_cluster_admission_queue_depth") >= 10, 60, "the burst queued")
        steady = pool.submit(run, "steady", "steady")
        for future in [*burst, steady]:
            future.result(timeout=300)
    assert finished.index("steady") <= 3, finished


def test_a_changed_tenants_file_applies_without_a_restart(tenants):
    cluster, work = tenants
    with pytest.raises(openai.AuthenticationError):
        complete(cluster, "sk-newcomer-7e2a")
    (work / "tenants.yaml").write_text(tenants_yaml(f"  newcomer: {{keys: ['{hash_key('sk-newcomer-7e2a')}']}}\n"))

    def admitted() -> bool:
        try:
            return complete(cluster, "sk-newcomer-7e2a").usage.completion_tokens == 4
        except openai.AuthenticationError:
            return False
    wait_for(admitted, 30, "the new tenant's key works", interval_s=1)
    assert "tenants file" in cluster.log() and "reloaded" in cluster.log()


def test_every_call_has_an_audit_line_and_no_log_holds_a_prompt(tenants):
    cluster, work = tenants
    with pytest.raises(openai.AuthenticationError):
        complete(cluster, "sk-wrong-key")
    response = client(cluster, "steady").chat.completions.with_raw_response.create(
        model="", messages=[{"role": "user", "content": f"{SECRET_WORD} here"}], max_tokens=3,
        extra_body={"request_id": "audit-me-1"})
    request_id = response.headers["x-request-id"]

    def line():
        for text in (work / "audit.jsonl").read_text().splitlines():
            record = json.loads(text)
            if record["request_id"] == request_id:
                return record
    record = wait_for(line, 10, "the call's audit line")
    assert {k: record[k] for k in ("caller_request_id", "tenant", "api", "method", "status", "http_status",
                                   "completion_tokens")} == {
        "caller_request_id": "audit-me-1", "tenant": "steady", "api": "http", "method": "chat.completions",
        "status": "OK", "http_status": 200, "completion_tokens": 3}
    assert record["prompt_tokens"] > 0 and record["latency_ms"] >= record["ttft_ms"] > 0
    time.sleep(0.5)
    audit = (work / "audit.jsonl").read_text()
    assert '"tenant":"-","api":"http"' in audit and '"status":"UNAUTHENTICATED"' in audit  # refusals too
    assert SECRET_WORD not in audit and SECRET_WORD not in cluster.log()
    assert cluster.metric("oss_cluster_completion_tokens_total", tenant="steady") > 0
    assert cluster.metric("oss_cluster_time_to_first_token_seconds_count", tenant="burst") >= 12


def test_plaintext_and_a_missing_client_certificate_get_nothing(tenants):
    cluster, _ = tenants
    pki = _PKI[cluster.http_url]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{cluster.http_url}/v1/models", timeout=10)  # plain HTTP to the TLS port
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{cluster.http_url.replace('http://', 'https://')}/v1/models",
                  verify=ssl.create_default_context(cafile=str(pki.ca)), timeout=10)
    with pytest.raises(grpc.RpcError) as refused:
        list(pb_grpc.InferenceStub(grpc.secure_channel(cluster.grpc_target, grpc.ssl_channel_credentials(
            pki.ca.read_bytes()))).Generate(pb.GenerateRequest(text="hi"), timeout=10))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert cluster.metric("oss_cluster_replicas_ready") == 1  # the admin listener stays plain HTTP
