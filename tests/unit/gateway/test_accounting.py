"""One accountant for both APIs: the same counters and one audit line per call, whatever the API."""

import asyncio
import json

from prometheus_client import REGISTRY

from cluster.errors import Overloaded, Unauthenticated
from cluster.gateway.accounting import Accountant, AuditLog
from cluster.gateway.tenants import Tenant
from cluster.types import FinishReason


def count(api: str, method: str, tenant: str, code: str) -> float:
    return REGISTRY.get_sample_value("oss_cluster_requests_total",
                                     {"api": api, "method": method, "tenant": tenant, "code": code}) or 0.0


def test_http_and_grpc_calls_are_counted_in_grpc_status_names(tmp_path):
    accountant = Accountant("m", AuditLog(str(tmp_path / "audit.jsonl")))
    team = Tenant("acct-team")
    before = (count("http", "chat.completions", "acct-team", "RESOURCE_EXHAUSTED"),
              count("grpc", "Chat", "acct-team", "OK"), count("http", "completions", "acct-team", "CANCELLED"))
    accountant.open("http", "chat.completions", team).close(Overloaded("busy"), http_status=429)
    call = accountant.open("grpc", "Chat", team)
    call.close()
    call.close()  # once only
    accountant.open("http", "completions", team).close(asyncio.CancelledError(), http_status=499)
    after = (count("http", "chat.completions", "acct-team", "RESOURCE_EXHAUSTED"),
             count("grpc", "Chat", "acct-team", "OK"), count("http", "completions", "acct-team", "CANCELLED"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1]
    assert REGISTRY.get_sample_value("oss_cluster_in_flight_requests", {"api": "grpc", "method": "Chat"}) == 0


def test_the_audit_line_holds_ids_tenant_tokens_status_and_timings_and_no_text(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(str(path))
    accountant = Accountant("gpt-oss-tiny", audit)
    call = accountant.open("http", "chat.completions", Tenant("audited"))
    call.caller_request_id, call.priority_class = "caller-7", "batch"
    call.prompt(12)
    call.tokens(1)
    call.tokens(3)
    call.finish_reason = FinishReason.LENGTH
    call.close(http_status=200)
    accountant.refused("grpc", "Generate", Unauthenticated("invalid API key"))
    audit.close()
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["request_id"] == call.request_id and len(first["request_id"]) == 32
    assert {k: first[k] for k in ("caller_request_id", "tenant", "api", "method", "model", "priority_class", "status",
                                  "http_status", "finish_reason", "prompt_tokens", "completion_tokens", "retries")} == {
        "caller_request_id": "caller-7", "tenant": "audited", "api": "http", "method": "chat.completions",
        "model": "gpt-oss-tiny", "priority_class": "batch", "status": "OK", "http_status": 200,
        "finish_reason": "length", "prompt_tokens": 12, "completion_tokens": 4, "retries": 0}
    assert first["ttft_ms"] >= 0 and first["latency_ms"] >= first["ttft_ms"] and first["time"] > 1.7e9
    assert (second["tenant"], second["status"], second["completion_tokens"]) == ("-", "UNAUTHENTICATED", 0)
    assert set(first) == {"time", "request_id", "caller_request_id", "tenant", "api", "method", "model",
                          "priority_class", "status", "finish_reason", "prompt_tokens", "completion_tokens", "ttft_ms",
                          "latency_ms", "retries", "http_status"}  # nothing else: no prompt, no completion


def test_tokens_are_counted_per_tenant_as_they_stream():
    accountant = Accountant("m")
    before = REGISTRY.get_sample_value("oss_cluster_completion_tokens_total",
                                       {"method": "Generate", "tenant": "streamer"}) or 0.0
    call = accountant.open("grpc", "Generate", Tenant("streamer"))
    call.tokens(2)
    call.tokens(5)
    assert REGISTRY.get_sample_value("oss_cluster_completion_tokens_total",
                                     {"method": "Generate", "tenant": "streamer"}) == before + 7  # before the end
    call.close()


def test_no_audit_target_writes_nothing(tmp_path):
    audit = AuditLog("")
    Accountant("m", audit).open("grpc", "Chat", Tenant("quiet")).close()
    audit.close()
    assert list(tmp_path.iterdir()) == []
