"""OpenAI request bodies → domain requests, and the app's checks that come before the engine."""

import pytest
from starlette.testclient import TestClient

from cluster.errors import InvalidRequest
from cluster.gateway.accounting import Accountant
from cluster.gateway.http import chat, completions, responses
from cluster.gateway.http.app import build_app
from cluster.gateway.pipeline import Pipeline
from cluster.gateway.prepare import Preparer
from cluster.gateway.tenants import Tenants, hash_key
from cluster.gateway.validate import Limits
from cluster.types import Role, ToolChoice

LIMITS = Limits(model_name="m", max_model_len=100, default_max_tokens=10, max_message_bytes=1000)
MAX_BODY = 64 * 1024


def chat_body(**kwargs) -> chat.ChatCompletionBody:
    return chat.ChatCompletionBody.model_validate({"messages": [{"role": "user", "content": "hi"}], **kwargs})


def test_tool_history_and_options():
    body = chat.ChatCompletionBody.model_validate({
        "model": "m", "max_completion_tokens": 7, "stop": "END", "reasoning_effort": "high", "seed": 3,
        "messages": [{"role": "system",
                      "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief"}]},
                     {"role": "user", "content": "weather?"},
                     {"role": "assistant", "content": None, "reasoning_content": "think",
                      "tool_calls": [{"id": "c1", "type": "function",
                                      "function": {"name": "w", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "c1", "content": "21C"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}})
    req = chat.to_chat_request(body)
    assert [m.role for m in req.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL]
    assert req.messages[0].content == "Be brief" and req.messages[2].reasoning == "think"
    assert req.messages[2].tool_calls[0].name == "w" and req.messages[3].tool_call_id == "c1"
    assert (req.tool_choice, req.tool_choice_name) == (ToolChoice.FUNCTION, "w")
    assert req.json_schema == {"type": "object"}
    assert (req.sampling.max_tokens, req.sampling.stop, req.sampling.seed) == (7, ("END",), 3)


@pytest.mark.parametrize("kwargs, message", [({"n": 3}, "n: only 1"), ({"logprobs": True}, "logprobs"),
                                             ({"response_format": {"type": "json_schema"}}, "json_schema: required")])
def test_unsupported_options_are_refused(kwargs, message):
    with pytest.raises(InvalidRequest, match=message):
        chat.to_chat_request(chat_body(**kwargs))


def test_min_tokens_and_ignore_eos_reach_the_request():
    assert chat.to_chat_request(chat_body(min_tokens=4, ignore_eos=True)).sampling.min_tokens == 4
    sampling = completions.to_generate_request(completions.CompletionBody(prompt="hi", min_tokens=4,
                                                                          ignore_eos=True)).sampling
    assert (sampling.min_tokens, sampling.ignore_eos) == (4, True)
    sampling = completions.to_generate_request(completions.CompletionBody(prompt="hi")).sampling
    assert (sampling.min_tokens, sampling.ignore_eos) == (0, False)


def test_completion_prompts():
    assert completions.to_generate_request(completions.CompletionBody(prompt="hi")).text == "hi"
    assert completions.to_generate_request(completions.CompletionBody(prompt=[1, 2])).token_ids == (1, 2)
    assert completions.to_generate_request(completions.CompletionBody(prompt=["one"])).text == "one"
    with pytest.raises(InvalidRequest, match="batch"):
        completions.to_generate_request(completions.CompletionBody(prompt=["a", "b"]))


def test_responses_input_items_become_a_conversation():
    body = responses.ResponsesBody.model_validate({
        "instructions": "Be brief.", "reasoning": {"effort": "low"}, "tool_choice": "required",
        "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}},
        "input": [{"role": "user", "content": "weather?"},
                  {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "think"}]},
                  {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                  {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
                  {"type": "function_call_output", "call_id": "c1", "output": "21C"}]})
    req = responses.to_chat_request(body)
    assert [m.role for m in req.messages] == [Role.DEVELOPER, Role.USER, Role.ASSISTANT, Role.TOOL]
    assert [c.id for c in req.messages[2].tool_calls] == ["c1", "c2"] and req.messages[2].reasoning == "think"
    assert req.tool_choice is ToolChoice.REQUIRED and req.json_schema == {"type": "object"}
    with pytest.raises(InvalidRequest, match="previous_response_id"):
        responses.to_chat_request(responses.ResponsesBody(input="x", previous_response_id="resp_1"))


class NoReplicas:
    def ready(self):
        return []

    def can_serve(self):
        return False


def app(tenants_file: str = ""):
    pipeline = Pipeline(replicas=NoReplicas(), router=None, admission=None, preparer=Preparer(LIMITS, pool=None),
                        request_timeout_s=5, max_attempts=1, stream=None)
    return build_app(pipeline, Tenants(tenants_file), Accountant("m"), readiness=lambda: (False, {"ready_replicas": 0}),
                     max_body_bytes=MAX_BODY, body_timeout_s=5)


def client(tenants_file: str = "") -> TestClient:
    return TestClient(app(tenants_file))


def test_api_keys_guard_every_endpoint_but_health(tmp_path):
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(f"tenants:\n  team: {{keys: ['{hash_key('secret')}']}}\n")
    c = client(str(tenants))
    r = c.post("/v1/chat/completions", json={"messages": []})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/v1/models", headers={"Authorization": "Bearer secret"}).status_code == 200
    assert c.get("/healthz").status_code == 200


def test_malformed_bodies_are_400_with_the_field():
    c = client()
    r = c.post("/v1/chat/completions", content=b"[1]", headers={"Content-Type": "application/json"})
    assert r.json()["error"]["message"] == "request body must be a JSON object"
    r = c.post("/v1/chat/completions", json={"messages": [{"role": "user"}], "temperature": "hot"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("temperature:")
    r = c.post("/v1/completions", json={"prompt": "x"}, headers={"X-Request-Timeout": "-1"})
    assert r.status_code == 400 and "X-Request-Timeout" in r.json()["error"]["message"]


def test_readyz_without_replicas_is_503():
    assert client().get("/readyz").status_code == 503


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None, "application/jsonp"])
def test_only_json_bodies_are_read(content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client().post("/v1/chat/completions", content=b'{"messages": []}', headers=headers)
    assert r.status_code == 415 and "application/json" in r.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/vnd.api+json"])
def test_json_media_types_are_read(content_type):
    r = client().post("/v1/chat/completions", content=b'{"messages": []}', headers={"Content-Type": content_type})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]


def test_a_body_over_the_limit_is_413_and_ends_the_connection():
    r = client().post("/v1/chat/completions", content=b"x" * (MAX_BODY + 1),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["connection"] == "close"
    chunks = (b"x" * 4096 for _ in range(MAX_BODY // 4096 + 1))  # chunked: no Content-Length to trust
    r = client().post("/v1/chat/completions", content=chunks, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("raw, message", [
    (b"[" * 5000 + b"]" * 5000, "request body: JSON nested too deeply"),
    (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages.0.content: contains an unpaired"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "\\udc01"]}', "stop.1: contains an unpaired"),
    (b'{"messages": "\xff"}', "request body: not UTF-8 text"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}', "sampling.max_tokens: 0"),
    (b'{"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "name": "a b", "content": "1"}]}',
     "messages[1].name: 'a b' is not a valid function name"),
])
def test_malformed_json_is_400_naming_where(raw, message):
    r = client().post("/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith(message), r.text


def test_shed_requests_get_429_with_retry_after():
    from cluster.errors import Overloaded
    from cluster.gateway.http.errors import error_response

    response = error_response(Overloaded("queue full; retry shortly", retry_after_s=2.4))
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert b'"type":"rate_limit_error"' in response.body


def test_an_unknown_priority_class_is_400_with_the_header():
    r = client().post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                      headers={"X-Priority-Class": "urgent"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("X-Priority-Class: 'urgent'")
