"""POST /v1/chat/completions: OpenAI chat requests → domain requests; domain events → OpenAI JSON."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import InvalidRequest, Unavailable
from cluster.gateway.http import sse
from cluster.types import (ChatEvent, ChatRequest, ContentDelta, Finish, FinishReason, Message, ReasoningDelta,
                           ReasoningEffort, Role, Sampling, Tool, ToolCall, ToolChoice, Usage)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields we do not use (user, metadata, ...)


class TextPart(_Body):
    type: Literal["text", "input_text", "output_text"]
    text: str


class FunctionCall(_Body):
    name: str
    arguments: str = "{}"


class ToolCallIn(_Body):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None


class FunctionDef(_Body):
    name: str
    description: str = ""
    parameters: dict | None = None


class ToolDef(_Body):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Body):
    name: str


class NamedToolChoice(_Body):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaSpec(_Body):
    name: str = "response"
    json_schema: dict = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(_Body):
    include_usage: bool = False


class SamplingBody(_Body):
    """The fields chat completions and completions share."""

    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    min_tokens: int | None = None
    ignore_eos: bool | None = None
    stream: bool = False
    n: int | None = None
    priority: int = 0
    request_id: str = ""


class ChatCompletionBody(SamplingBody):
    messages: list[ChatMessage]
    tools: list[ToolDef] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    max_completion_tokens: int | None = None
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None


def text_of(content: str | list[TextPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content)


def tool_choice_of(choice) -> tuple[ToolChoice, str]:
    if isinstance(choice, NamedToolChoice):
        return ToolChoice.FUNCTION, choice.function.name
    return ToolChoice(choice or "auto"), ""


def json_schema_of(fmt: ResponseFormat | None) -> dict | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None:
        raise InvalidRequest("response_format.json_schema: required when type is 'json_schema'")
    return fmt.json_schema.json_schema


def sampling_of(max_tokens, temperature, top_p, seed, stop, min_tokens=None, ignore_eos=None) -> Sampling:
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    return Sampling(max_tokens=max_tokens, temperature=1.0 if temperature is None else temperature,
                    top_p=1.0 if top_p is None else top_p, seed=seed, stop=stops, min_tokens=min_tokens or 0,
                    ignore_eos=bool(ignore_eos))


def to_chat_request(body: ChatCompletionBody) -> ChatRequest:
    if body.n not in (None, 1):
        raise InvalidRequest("n: only 1 choice per request is supported; send several requests instead")
    if body.logprobs:
        raise InvalidRequest("logprobs: not supported")
    messages = tuple(Message(
        role=Role(m.role), content=text_of(m.content), name=m.name or "", tool_call_id=m.tool_call_id or "",
        reasoning=m.reasoning_content or "",
        tool_calls=tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ()))
        for m in body.messages)
    choice, name = tool_choice_of(body.tool_choice)
    return ChatRequest(
        messages=messages, model=body.model, request_id=body.request_id, priority=body.priority,
        reasoning_effort=ReasoningEffort(body.reasoning_effort or "medium"),
        tools=tuple(Tool(t.function.name, t.function.description, t.function.parameters) for t in body.tools or ()),
        tool_choice=choice, tool_choice_name=name, json_schema=json_schema_of(body.response_format),
        sampling=sampling_of(body.max_tokens if body.max_completion_tokens is None else body.max_completion_tokens,
                             body.temperature, body.top_p, body.seed, body.stop, body.min_tokens, body.ignore_eos))


def finish_reason(finish: Finish) -> tuple[str, str | None]:
    """OpenAI's finish_reason, and our more precise reason where it says more (as vLLM's `stop_reason`)."""
    return {FinishReason.LENGTH: ("length", None), FinishReason.TOOL_CALLS: ("tool_calls", None),
            FinishReason.STOP: ("stop", None)}.get(finish.reason, ("stop", finish.reason.value))


def usage_json(usage: Usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


def tool_call_json(call: ToolCall) -> dict:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


async def completion(events: AsyncIterator[ChatEvent], model: str) -> dict:
    """Collects a whole stream into one chat.completion object."""
    reasoning, content, calls, usage, finish = [], [], [], None, None
    async for e in events:
        match e:
            case ReasoningDelta(text):
                reasoning.append(text)
            case ContentDelta(text):
                content.append(text)
            case ToolCall():
                calls.append(tool_call_json(e))
            case Usage():
                usage = e
            case Finish():
                finish = e
    if finish.reason is FinishReason.ERROR:
        raise Unavailable(finish.message)  # nothing was sent yet: the caller may retry the whole request
    reason, stop_reason = finish_reason(finish)
    message = {"role": "assistant", "content": "".join(content) if content or not calls else None,
               "reasoning_content": "".join(reasoning) or None}
    if calls:
        message["tool_calls"] = calls
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "finish_reason": reason,
                                         "stop_reason": stop_reason, "logprobs": None}],
            "usage": usage_json(usage)}


async def chunks(events: AsyncIterator[ChatEvent], model: str, include_usage: bool) -> AsyncIterator[str]:
    """A stream as chat.completion.chunk events, then [DONE]."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def chunk(delta: dict, reason: str | None = None, **extra) -> str:
        return sse.data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None,
                                              **extra}]})

    yield chunk({"role": "assistant", "content": ""})
    calls = 0
    async for e in events:
        match e:
            case ReasoningDelta(text):
                yield chunk({"reasoning_content": text})
            case ContentDelta(text):
                yield chunk({"content": text})
            case ToolCall():
                yield chunk({"tool_calls": [{"index": calls, **tool_call_json(e)}]})
                calls += 1
            case Usage():
                usage = e
            case Finish(FinishReason.ERROR, message):
                yield sse.data(sse.error_payload(message))
            case Finish():
                reason, stop_reason = finish_reason(e)
                yield chunk({}, reason, stop_reason=stop_reason)
    if include_usage:
        yield sse.data({**base, "choices": [], "usage": usage_json(usage)})
    yield sse.DONE
