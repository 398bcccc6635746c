"""The embedded default speaks Harmony: held-out prompts, tools, reasoning and multi-turn chats, unconstrained."""

import json
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

from cluster.harmony.render import render_chat
from cluster.tinymodel import corpus
from cluster.types import ChatRequest, Message, Role
from tests.e2e.conftest import running_cluster

pytestmark = pytest.mark.e2e

MODEL = "tiny-gpt-oss"
HELD_OUT = 100
# The bar the embedded default must keep: 95 %. The shipped weights (8 query and 8 KV heads) gave 100 of
# 100 here in each of two runs; the earlier 4-and-2-head weights gave 94–96 (docs/tiny-model.md).
WELL_FORMED_AT_LEAST = 0.95
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Gets the current weather in a city.",
                                           "parameters": WEATHER}}]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The embedded default's model, with the gateway's defaults (no reasoning budget under constraints)."""
    with running_cluster(tmp_path_factory.mktemp("trained"), model="trained") as c:
        yield c


def openai_body(request: ChatRequest) -> dict:
    """A corpus conversation as the official client would send it."""
    messages = []
    for m in request.messages:
        if m.role is Role.TOOL:
            messages.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role is Role.ASSISTANT:
            calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                     for c in m.tool_calls]
            messages.append({"role": "assistant", "content": m.content or None,
                             "reasoning_content": m.reasoning or None, "tool_calls": calls or None})
        else:
            messages.append({"role": m.role.value, "content": m.content})
    tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                               "parameters": t.parameters}} for t in request.tools]
    body = {"messages": messages, "reasoning_effort": request.reasoning_effort.value}
    return body | {"tools": tools} if tools else body


def verdict(request: ChatRequest, choice) -> str:
    """"ok", or what is wrong with the reply."""
    if choice.finish_reason == "tool_calls":
        schemas = {t.name: t.parameters for t in request.tools}
        for call in choice.message.tool_calls:
            if call.function.name not in schemas:
                return f"called {call.function.name}, which was not given"
            try:
                jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])
            except (ValueError, jsonschema.ValidationError) as exc:
                return f"arguments of {call.function.name}: {str(exc).splitlines()[0]}"
        return "ok"
    stop_reason = choice.model_extra.get("stop_reason")
    if choice.finish_reason != "stop" or stop_reason == "invalid_output":
        return f"finish {choice.finish_reason} ({stop_reason})"
    return "ok" if (choice.message.content or "").strip() else "no final answer"


def test_held_out_prompts_get_well_formed_replies_at_temperature_1(cluster):
    client = cluster.openai(timeout=120)
    examples = corpus.held_out(HELD_OUT)

    def ask(i_example):
        i, example = i_example
        r = client.chat.completions.create(model=MODEL, temperature=1.0, seed=i, max_tokens=300,
                                           **openai_body(example.request))
        return verdict(example.request, r.choices[0])

    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(ask, enumerate(examples)))
    wrong = [(e.kind, v) for e, v in zip(examples, verdicts) if v != "ok"]
    print(f"held-out replies well-formed: {HELD_OUT - len(wrong)} of {HELD_OUT}; wrong: {wrong}")
    assert HELD_OUT - len(wrong) >= HELD_OUT * WELL_FORMED_AT_LEAST, wrong


def test_tool_round_trip_without_constraint(cluster):
    client = cluster.openai(timeout=60)
    question = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=question, tools=TOOLS, temperature=0, max_tokens=200)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] == "Paris"
    result = {"city": "Paris", "temperature": 18, "unit": "celsius", "condition": "sunny"}
    history = question + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                          {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
    second = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS, temperature=0, max_tokens=200)
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and not answer.message.tool_calls
    assert "18" in answer.message.content and "sunny" in answer.message.content, answer.message.content


def test_reasoning_streams_apart_from_the_answer(cluster):
    stream = cluster.openai(timeout=60).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], stream=True, temperature=0, max_tokens=200,
        reasoning_effort="high")
    reasoning, content, finish = [], [], None
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        assert not (delta.content and delta.model_extra.get("reasoning_content")), "one kind per chunk"
        reasoning.append(delta.model_extra.get("reasoning_content") or "")
        content.append(delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    reasoning, content = "".join(reasoning), "".join(content)
    assert finish == "stop" and reasoning.strip() and content.strip()
    assert "<|" not in reasoning + content and reasoning not in content and content not in reasoning
    assert content.startswith("Hello"), content


def test_earlier_chain_of_thought_is_dropped_on_the_next_turn(cluster):
    client = cluster.openai(timeout=60)
    first = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}],
                                           temperature=0, max_tokens=200).choices[0].message
    reasoning = first.model_extra["reasoning_content"]
    assert reasoning and first.content

    def second_turn(with_reasoning: bool):
        earlier = {"role": "assistant", "content": first.content,
                   **({"reasoning_content": reasoning} if with_reasoning else {})}
        return client.chat.completions.create(
            model=MODEL, temperature=0, max_tokens=200,
            messages=[{"role": "user", "content": "Hello"}, earlier, {"role": "user", "content": "Capital of Peru?"}])

    kept, dropped = second_turn(True), second_turn(False)
    assert kept.usage.prompt_tokens == dropped.usage.prompt_tokens  # the analysis is not rendered again
    assert kept.choices[0].message.content == dropped.choices[0].message.content
    assert "Lima" in kept.choices[0].message.content


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_tool_choice_with_the_default_config_returns_a_schema_valid_call(cluster, seed):
    r = cluster.openai(timeout=60).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Is it cold in Oslo today?"}], tools=TOOLS,
        tool_choice="required", temperature=1.0, seed=seed, max_tokens=300)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_ignore_eos_and_min_tokens_run_a_raw_prompt_past_the_end_of_its_turn(cluster):
    """What `vllm bench serve` sends: without them the model ends its answer to "Hello" within 64 tokens."""
    client = cluster.openai(timeout=60)
    prompt = render_chat(ChatRequest(messages=(Message(Role.USER, "Hello"),)))

    def complete(**extra):
        return client.completions.create(model=MODEL, prompt=prompt, max_tokens=64, temperature=0, extra_body=extra)

    ended = complete()
    assert ended.choices[0].finish_reason == "stop" and ended.usage.completion_tokens < 64
    forced = complete(ignore_eos=True)
    assert forced.choices[0].finish_reason == "length" and forced.usage.completion_tokens == 64
    at_least = complete(min_tokens=ended.usage.completion_tokens + 8)
    assert at_least.usage.completion_tokens >= ended.usage.completion_tokens + 8


def test_a_chat_answer_still_ends_with_its_turn_under_ignore_eos(cluster):
    r = cluster.openai(timeout=60).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], temperature=0, max_tokens=200,
        extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens < 200
    assert r.choices[0].message.content.startswith("Hello")
