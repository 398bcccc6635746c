"""The OpenAI-compatible HTTP API on the real stack, driven by the official `openai` client."""

import json
import time

import httpx
import jsonschema
import openai
import pytest
from openai_harmony import (Author, Conversation, DeveloperContent, Message, ReasoningEffort, Role, SystemContent,
                            ToolDescription)

from tests.e2e.conftest import wait_for
from tests.unit.harmony.harmony_tokens import encoding

pytestmark = pytest.mark.e2e

MODEL = "tiny-gpt-oss"
WEATHER = {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
           "properties": {"city": {"type": "string", "enum": ["Paris", "Lisbon", "Oslo"]},
                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}
TIME = {"type": "object", "additionalProperties": False, "required": ["utc"],
        "properties": {"utc": {"type": "boolean"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
                                           "parameters": WEATHER}},
         {"type": "function", "function": {"name": "get_time", "description": "The time.", "parameters": TIME}}]
ANSWER = {"type": "object", "additionalProperties": False, "required": ["answer", "sure"],
          "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}, "sure": {"type": "boolean"}}}
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_models(cluster):
    assert [m.id for m in cluster.openai().models.list()] == [MODEL]


def test_chat_non_streaming(cluster):
    r = cluster.openai().chat.completions.create(model=MODEL, messages=user("Hello"), max_tokens=24, seed=1)
    choice = r.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == 57 and 1 <= r.usage.completion_tokens <= 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_with_usage(cluster):
    stream = cluster.openai().chat.completions.create(model=MODEL, messages=user("Hello"), max_tokens=24, stream=True,
                                                      stream_options={"include_usage": True})
    chunks = list(stream)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
    assert chunks[0].choices[0].delta.role == "assistant"


def test_malformed_model_output_still_completes_and_is_counted(cluster):
    before = cluster.metric("oss_cluster_finish_total", method="chat.completions", reason="invalid_output")
    r = cluster.openai().chat.completions.create(model=MODEL, messages=user("Hello"), max_tokens=200, seed=3)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].model_extra["stop_reason"] == "invalid_output"  # the random model breaks the format
    assert cluster.metric("oss_cluster_finish_total", method="chat.completions", reason="invalid_output") == before + 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_tool_choice_returns_a_schema_valid_call(cluster, seed):
    r = cluster.openai().chat.completions.create(model=MODEL, messages=user("Weather in Paris?"), tools=TOOLS,
                                                 tool_choice="required", max_tokens=200, seed=seed)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    assert "<|" not in (choice.message.content or "") and "<|" not in (choice.message.model_extra.get(
        "reasoning_content") or "")


def test_named_tool_choice_streams_the_named_call(cluster):
    stream = cluster.openai().chat.completions.create(
        model=MODEL, messages=user("What time is it?"), tools=TOOLS, max_tokens=200, seed=4, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert [c.function.name for c in calls] == ["get_time"]
    jsonschema.validate(json.loads(calls[0].function.arguments), TIME)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_json_schema_answer_parses_and_reasoning_stays_apart(cluster):
    r = cluster.openai().chat.completions.create(
        model=MODEL, messages=user("Is water wet?"), max_tokens=200, seed=5,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}})
    message = r.choices[0].message
    jsonschema.validate(json.loads(message.content), ANSWER)
    reasoning = message.model_extra.get("reasoning_content") or ""
    assert reasoning not in message.content or not reasoning
    assert r.usage.completion_tokens_details.reasoning_tokens == len(
        encoding().encode(reasoning, allowed_special=set())) if reasoning else True


def test_constraints_of_successive_requests_stay_apart(cluster):
    """Different constraints one after another (the engine's grammar cache once mixed them up)."""
    client = cluster.openai()
    for _ in range(2):
        r = client.chat.completions.create(
            model=MODEL, messages=user("Is water wet?"), max_tokens=200, seed=7,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}})
        jsonschema.validate(json.loads(r.choices[0].message.content), ANSWER)
        r = client.chat.completions.create(model=MODEL, messages=user("Weather?"), tools=TOOLS[:1],
                                           tool_choice="required", max_tokens=200, seed=7)
        jsonschema.validate(json.loads(r.choices[0].message.tool_calls[0].function.arguments), WEATHER)


def test_tool_round_trip_renders_the_history(cluster):
    client = cluster.openai()
    first = client.chat.completions.create(model=MODEL, messages=user("Weather in Oslo?"), tools=TOOLS[:1],
                                           tool_choice="required", max_tokens=200, seed=6)
    call = first.choices[0].message.tool_calls[0]
    history = user("Weather in Oslo?") + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": -3}'}]
    second = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS[:1], max_tokens=8, seed=6)
    # The reference rendering, built with openai_harmony directly.
    tool = TOOLS[0]["function"]
    convo = Conversation.from_messages([
        Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_reasoning_effort(ReasoningEffort.MEDIUM)),
        Message.from_role_and_content(Role.DEVELOPER, DeveloperContent.new().with_function_tools(
            [ToolDescription.new(tool["name"], tool["description"], parameters=tool["parameters"])])),
        Message.from_role_and_content(Role.USER, "Weather in Oslo?"),
        Message.from_role_and_content(Role.ASSISTANT, call.function.arguments).with_channel("commentary")
        .with_recipient("functions.get_weather").with_content_type("<|constrain|>json"),
        Message.from_author_and_content(Author.new(Role.TOOL, "functions.get_weather"), '{"temp_c": -3}')
        .with_channel("commentary").with_recipient("assistant")])
    expected = encoding().render_conversation_for_completion(convo, Role.ASSISTANT)
    assert second.usage.prompt_tokens == len(expected)


def test_completions_text_and_token_prompts(cluster):
    client = cluster.openai()
    r = client.completions.create(model=MODEL, prompt="<|start|>user<|message|>hi<|end|><|start|>assistant",
                                  max_tokens=10, seed=1)
    assert r.usage.prompt_tokens == 7 and r.usage.completion_tokens == 10 and r.choices[0].text
    r2 = client.completions.create(model=MODEL, prompt=[200006, 1428, 200008, 3686, 200007, 200006, 173781],
                                   max_tokens=10, seed=1)
    assert r2.choices[0].text == r.choices[0].text  # same tokens, same seed
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="<|start|>user<|message|>hi<|end|><|start|>assistant", max_tokens=10, seed=1,
        stream=True) if c.choices)
    assert streamed == r.choices[0].text


def test_responses_non_streaming(cluster):
    r = cluster.openai().responses.create(model=MODEL, input="Is water wet?", instructions="Answer in JSON.",
                                          max_output_tokens=200, reasoning={"effort": "low"},
                                          text={"format": {"type": "json_schema", "name": "a", "schema": ANSWER}})
    assert r.status == "completed"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    jsonschema.validate(json.loads(r.output_text), ANSWER)


def test_responses_streaming_function_call_then_its_output(cluster):
    client = cluster.openai()
    tools = [{"type": "function", "name": "get_weather", "description": "Weather.", "parameters": WEATHER}]
    events = list(client.responses.create(model=MODEL, input="Weather in Paris?", tools=tools, tool_choice="required",
                                          max_output_tokens=200, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.done" in kinds
    final = events[-1].response
    call = next(item for item in final.output if item.type == "function_call")
    jsonschema.validate(json.loads(call.arguments), WEATHER)
    assert final.usage.output_tokens > 0
    follow_up = client.responses.create(
        model=MODEL, tools=tools, max_output_tokens=8,
        input=[{"role": "user", "content": "Weather in Paris?"},
               {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}])
    assert follow_up.usage.input_tokens > final.usage.input_tokens


@pytest.mark.parametrize("body, status, message", [
    ({"model": MODEL, "messages": user("x"), "n": 2}, 400, "n: only 1 choice"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages.0.role"),
    ({"model": MODEL, "messages": user("x"), "max_tokens": 0}, 400, "max_tokens: 0"),
    ({"model": MODEL, "messages": user("x"), "max_tokens": 9000}, 400, "exceeds the model's context"),
    ({"model": MODEL}, 400, "messages: Field required"),
    ({"model": MODEL, "messages": []}, 400, "at least one message"),
    ({"model": MODEL, "messages": user("x"), "tools": TOOLS, "tool_choice": {"type": "function",
                                                                            "function": {"name": "nope"}}},
     400, "tool_choice: function 'nope' is not among `tools`"),
    ({"model": MODEL, "messages": user("x"), "tool_choice": "required"}, 400, "needs at least one tool"),
    ({"model": "gpt-9", "messages": user("x")}, 404, "not served here"),
])
def test_errors_in_openai_shape(cluster, body, status, message):
    r = httpx.post(f"{cluster.http_url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == status
    error = r.json()["error"]
    assert message in error["message"] and error["type"] and "Traceback" not in r.text


def test_body_that_is_not_json(cluster):
    r = httpx.post(f"{cluster.http_url}/v1/chat/completions", content=b"{not json", timeout=10,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("request body: not valid JSON")


def test_openai_client_raises_typed_errors(cluster):
    with pytest.raises(openai.BadRequestError):
        cluster.openai().chat.completions.create(model=MODEL, messages=[], max_tokens=5)
    with pytest.raises(openai.NotFoundError):
        cluster.openai().chat.completions.create(model="gpt-9", messages=user("x"))


def test_deadline_gives_504_and_frees_the_engine(cluster):
    r = httpx.post(f"{cluster.http_url}/v1/completions", json={"prompt": "x", "max_tokens": 4000},
                   headers={"X-Request-Timeout": "1"}, timeout=30)
    assert r.status_code == 504 and "deadline" in r.json()["error"]["message"]
    wait_for(lambda: cluster.total("oss_cluster_replica_running_requests") == 0, 10, "the engine to drop the request")


def test_client_disconnect_aborts_the_engine_request(cluster):
    body = {"model": MODEL, "prompt": "go", "max_tokens": 4000, "stream": True}
    with httpx.stream("POST", f"{cluster.http_url}/v1/completions", json=body, timeout=30) as response:
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
        wait_for(lambda: cluster.total("oss_cluster_replica_running_requests") == 1, 5, "the request to run")
    closed = time.monotonic()
    wait_for(lambda: cluster.total("oss_cluster_replica_running_requests") == 0, 10, "the engine to drop the request")
    assert time.monotonic() - closed < 3


def test_non_streaming_client_disconnect_aborts_too(cluster):
    body = {"model": MODEL, "prompt": "go", "max_tokens": 4000}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{cluster.http_url}/v1/completions", json=body, timeout=2)
    wait_for(lambda: cluster.total("oss_cluster_replica_running_requests") == 0, 10, "the engine to drop the request")


def test_health_endpoints(cluster):
    assert httpx.get(f"{cluster.http_url}/healthz", timeout=5).status_code == 200
    ready = httpx.get(f"{cluster.http_url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["ready_replicas"] == 1
