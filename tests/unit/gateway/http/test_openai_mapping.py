"""The Harmony → OpenAI mapping on fixed token sequences, and SSE framing."""

import asyncio
import json

import pytest

from cluster.errors import Unavailable
from cluster.gateway.http import chat, completions, responses, sse
from cluster.harmony.parse import ChatParser
from cluster.types import Finish, FinishReason, TextChunk, Usage
from tests.unit.harmony.harmony_tokens import completion as harmony_tokens

REASON_THEN_CALL = ('<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary '
                    'to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>')
REASON_THEN_ANSWER = ("<|channel|>analysis<|message|>Think.<|end|>"
                      "<|start|>assistant<|channel|>final<|message|>Hi!<|return|>")


async def events_of(markup: str, engine_finish=FinishReason.STOP):
    parser = ChatParser()
    for event in parser.feed(harmony_tokens(markup)):
        yield event
    yield Usage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=parser.reasoning_tokens)
    yield Finish(parser.finish_reason(engine_finish), parser.error)


def run(coro):
    return asyncio.run(coro)


async def collect(agen):
    return [x async for x in agen]


def test_sse_framing():
    assert sse.data({"a": "é"}) == 'data: {"a":"é"}\n\n'
    assert sse.event("response.created", {"type": "response.created"}) == \
        'event: response.created\ndata: {"type":"response.created"}\n\n'
    assert sse.DONE == "data: [DONE]\n\n"


def test_chat_completion_keeps_reasoning_out_of_content():
    body = run(chat.completion(events_of(REASON_THEN_ANSWER), "m"))
    message = body["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("Hi!", "Think.")
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["stop_reason"] is None
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                             "completion_tokens_details": {"reasoning_tokens": len(harmony_tokens("Think."))}}


def test_chat_completion_tool_call():
    body = run(chat.completion(events_of(REASON_THEN_CALL), "m"))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


def test_invalid_output_is_a_stop_with_a_stop_reason():
    body = run(chat.completion(events_of("<|channel|>final<|message|>Partial", FinishReason.STOP), "m"))
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["stop_reason"] == "invalid_output"
    assert body["choices"][0]["message"]["content"] == "Partial"


def test_error_before_anything_was_sent_raises_for_a_whole_response():
    async def failing():
        yield Usage(1, 1)
        yield Finish(FinishReason.ERROR, "replica failed")

    with pytest.raises(Unavailable, match="replica failed"):
        run(chat.completion(failing(), "m"))


def test_chat_chunks():
    frames = run(collect(chat.chunks(events_of(REASON_THEN_CALL), "m", include_usage=True)))
    assert frames[-1] == sse.DONE
    payloads = [json.loads(f.removeprefix("data: ")) for f in frames[:-1]]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [p["choices"][0]["delta"] for p in payloads if p["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Need weather."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0]["index"] == 0 and calls[0]["function"]["name"] == "get_weather"
    assert [p["choices"][0]["finish_reason"] for p in payloads if p["choices"]][-1] == "tool_calls"
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["total_tokens"] == 30


def test_chat_chunks_report_a_mid_stream_error_inside_the_stream():
    async def failing():
        yield Usage(1, 1)
        yield Finish(FinishReason.ERROR, "replica failed")

    frames = run(collect(chat.chunks(failing(), "m", include_usage=False)))
    assert json.loads(frames[-2].removeprefix("data: "))["error"]["message"] == "replica failed"
    assert frames[-1] == sse.DONE


def test_text_completion():
    async def events():
        yield TextChunk([1, 2], "Hello")
        yield TextChunk([3], " world")
        yield Usage(4, 3)
        yield Finish(FinishReason.LENGTH)

    body = run(completions.completion(events(), "m"))
    assert body["choices"][0]["text"] == "Hello world" and body["choices"][0]["finish_reason"] == "length"
    frames = run(collect(completions.chunks(events(), "m", include_usage=True)))
    texts = [json.loads(f.removeprefix("data: ")).get("choices") for f in frames[:-1]]
    assert "".join(c[0]["text"] for c in texts if c) == "Hello world"


def test_responses_output_items_and_usage():
    body = run(responses.response(events_of(REASON_THEN_CALL), "m"))
    assert [item["type"] for item in body["output"]] == ["reasoning", "function_call"]
    assert body["output"][0]["content"][0]["text"] == "Need weather."
    assert body["output"][1]["name"] == "get_weather" and body["status"] == "completed"
    assert body["usage"]["input_tokens"] == 10
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == len(harmony_tokens("Need weather."))


def test_responses_stream_events_in_order():
    frames = run(collect(responses.stream(events_of(REASON_THEN_ANSWER), "m")))
    kinds = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.index("response.reasoning_text.delta") < kinds.index("response.output_text.delta")
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 2
    numbers = [json.loads(f.split("data: ", 1)[1])["sequence_number"] for f in frames]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_responses_length_is_incomplete():
    body = run(responses.response(events_of("<|channel|>final<|message|>cut", FinishReason.LENGTH), "m"))
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
