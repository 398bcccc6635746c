"""Property-based fuzzing of the HTTP request bodies on the real stack: never a 500, never a hang."""

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.e2e

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**7) | st.floats(width=32) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "robot"])
schemas = st.sampled_from([{"type": "object"}, {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                           {"type": "string", "enum": ["a", "b"]}, {"type": "array", "maxItems": 0},
                           {"type": "nonsense"}, {"properties": 5}, {}])
function = st.fixed_dictionaries({"name": st.sampled_from(["f", "get_weather", "bad name", ""]) | json_values},
                                 optional={"description": st.text(max_size=10), "parameters": schemas | json_values})
tool = st.fixed_dictionaries({"type": st.just("function") | json_values, "function": function | json_values})
tool_call = st.fixed_dictionaries({"id": st.text(max_size=6), "type": st.just("function"),
                                   "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "x y"]),
                                                                      "arguments": st.text(max_size=10)})})
message = st.fixed_dictionaries({"role": roles | json_values}, optional={
    "content": st.text(max_size=40) | st.none() | json_values, "name": st.text(max_size=6),
    "tool_calls": st.lists(tool_call, max_size=2) | json_values, "tool_call_id": st.text(max_size=6)})
chat_body = st.fixed_dictionaries({"messages": st.lists(message, max_size=3) | json_values}, optional={
    "model": st.sampled_from(["tiny-gpt-oss", "", "other"]) | json_values,
    "max_tokens": st.integers(-2, 6) | json_values, "max_completion_tokens": st.integers(-1, 6),
    "temperature": st.floats(-1, 3, allow_nan=False) | json_values, "top_p": st.floats(-0.5, 1.5, allow_nan=False),
    "seed": st.integers(-2**40, 2**40), "stop": st.text(max_size=4) | st.lists(st.text(max_size=4), max_size=5),
    "stream": st.booleans(), "stream_options": st.just({"include_usage": True}) | json_values,
    "n": st.integers(0, 3), "tools": st.lists(tool, max_size=2) | json_values,
    "tool_choice": st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "f"}}])
    | json_values,
    "response_format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object", "json_schema", "x"]),
                                              "json_schema": st.fixed_dictionaries({"name": st.just("n"),
                                                                                    "schema": schemas})}) | json_values,
    "reasoning_effort": st.sampled_from(["low", "medium", "high", "max"]) | json_values})
responses_body = st.fixed_dictionaries({"input": st.text(max_size=30) | st.lists(message, max_size=2) | json_values},
                                       optional={"max_output_tokens": st.integers(-1, 6), "instructions": json_values,
                                                 "tools": json_values, "stream": st.booleans(),
                                                 "text": st.just({"format": {"type": "json_object"}}) | json_values})
completion_body = st.fixed_dictionaries({"prompt": st.text(max_size=30) | st.lists(st.integers(-5, 201_100), max_size=5)
                                         | json_values}, optional={"max_tokens": st.integers(-1, 6),
                                                                   "stream": st.booleans(), "echo": st.booleans()})


def check(cluster, path: str, body) -> None:
    # json.dumps writes Infinity and NaN as some clients do, though JSON has neither.
    content = json.dumps(body).encode()
    with httpx.Client(base_url=cluster.http_url, timeout=60) as client:
        with client.stream("POST", path, content=content, headers={"Content-Type": "application/json"}) as response:
            payload = response.read()  # a whole stream too: it must end by itself
    assert response.status_code != 500 and response.status_code < 600, payload[:500]
    if response.status_code != 200:
        assert b'"error"' in payload and b"Traceback" not in payload
    elif body.get("stream") is True:
        assert payload.rstrip().endswith(b"data: [DONE]") or b"response." in payload


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(body=chat_body)
def test_chat_completions_fuzz(cluster, body):
    check(cluster, "/v1/chat/completions", body)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=responses_body)
def test_responses_fuzz(cluster, body):
    check(cluster, "/v1/responses", body)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=completion_body)
def test_completions_fuzz(cluster, body):
    check(cluster, "/v1/completions", body)
