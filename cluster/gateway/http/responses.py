"""POST /v1/responses: the Responses API, stateless (no stored responses, no previous_response_id)."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal

from cluster.errors import InvalidRequest, Unavailable
from cluster.gateway.http import sse
from cluster.gateway.http.chat import _Body, TextPart, sampling_of, text_of
from cluster.types import (ChatEvent, ChatRequest, ContentDelta, Finish, FinishReason, Message, ReasoningDelta,
                           ReasoningEffort, Role, Tool, ToolCall, ToolChoice, Usage)


class InputItem(_Body):
    type: Literal["message", "function_call", "function_call_output", "reasoning"] = "message"
    role: Literal["system", "developer", "user", "assistant"] | None = None
    content: str | list[TextPart] | list[dict] | None = None
    call_id: str = ""
    name: str = ""
    arguments: str = "{}"
    output: str = ""


class FunctionTool(_Body):
    type: Literal["function"]
    name: str
    description: str = ""
    parameters: dict | None = None


class NamedTool(_Body):
    type: Literal["function"]
    name: str


class Reasoning(_Body):
    effort: Literal["low", "medium", "high"] | None = None


class TextConfig(_Body):
    format: dict | None = None


class ResponsesBody(_Body):
    model: str = ""
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedTool | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stream: bool = False
    previous_response_id: str | None = None
    priority: int = 0


def to_chat_request(body: ResponsesBody) -> ChatRequest:
    if body.previous_response_id:
        raise InvalidRequest("previous_response_id: responses are not stored; send the whole conversation as `input`")
    messages: list[Message] = [Message(Role.DEVELOPER, body.instructions)] if body.instructions else []
    items = [InputItem(role="user", content=body.input)] if isinstance(body.input, str) else body.input
    reasoning = ""
    for i, item in enumerate(items):
        if item.type == "reasoning":
            reasoning += _text(item.content)
        elif item.type == "function_call":
            call = ToolCall(item.call_id, item.name, item.arguments)
            if messages and messages[-1].role is Role.ASSISTANT and not messages[-1].content:
                last = messages.pop()
                messages.append(Message(Role.ASSISTANT, tool_calls=last.tool_calls + (call,), reasoning=last.reasoning))
            else:
                messages.append(Message(Role.ASSISTANT, tool_calls=(call,), reasoning=reasoning))
            reasoning = ""
        elif item.type == "function_call_output":
            messages.append(Message(Role.TOOL, item.output, tool_call_id=item.call_id))
        else:
            if item.role is None:
                raise InvalidRequest(f"input[{i}].role: required for a message")
            messages.append(Message(Role(item.role), _text(item.content),
                                    reasoning=reasoning if item.role == "assistant" else ""))
            reasoning = ""
    choice, name = ToolChoice.AUTO, ""
    if isinstance(body.tool_choice, NamedTool):
        choice, name = ToolChoice.FUNCTION, body.tool_choice.name
    elif body.tool_choice:
        choice = ToolChoice(body.tool_choice)
    return ChatRequest(
        messages=tuple(messages), model=body.model, priority=body.priority,
        reasoning_effort=ReasoningEffort((body.reasoning.effort if body.reasoning else None) or "medium"),
        tools=tuple(Tool(t.name, t.description, t.parameters) for t in body.tools or ()),
        tool_choice=choice, tool_choice_name=name, json_schema=_json_schema(body.text),
        sampling=sampling_of(body.max_output_tokens, body.temperature, body.top_p, body.seed, None))


def _text(content) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "".join(str(part.get("text", "")) for part in content)
    return text_of(content)


def _json_schema(text: TextConfig | None) -> dict | None:
    fmt = (text.format if text else None) or {"type": "text"}
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    raise InvalidRequest("text.format: use {'type': 'text'}, {'type': 'json_object'} or "
                         "{'type': 'json_schema', 'name': ..., 'schema': {...}}")


class _Builder:
    """Turns chat events into Responses output items, and into the stream events that announce them."""

    def __init__(self, model: str):
        self.response = {"id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": int(time.time()),
                         "status": "in_progress", "model": model, "output": [], "usage": None,
                         "incomplete_details": None, "error": None, "tools": [], "tool_choice": "auto",
                         "parallel_tool_calls": False}
        self.sequence = 0
        self.open_item: dict | None = None

    def event(self, kind: str, **payload) -> str:
        self.sequence += 1
        return sse.event(kind, {"type": kind, "sequence_number": self.sequence, **payload})

    def open(self, item: dict) -> list[str]:
        out = self.close()
        self.response["output"].append(item)
        self.open_item = item
        index = len(self.response["output"]) - 1
        out.append(self.event("response.output_item.added", output_index=index, item=item))
        if item["type"] in ("message", "reasoning"):
            out.append(self.event("response.content_part.added", output_index=index, item_id=item["id"],
                                  content_index=0, part=item["content"][0]))
        return out

    def close(self) -> list[str]:
        item, self.open_item = self.open_item, None
        if item is None:
            return []
        item["status"] = "completed"
        index = self.response["output"].index(item)
        out = []
        if item["type"] == "message":
            part = item["content"][0]
            out.append(self.event("response.output_text.done", output_index=index, item_id=item["id"],
                                  content_index=0, text=part["text"]))
        if item["type"] == "reasoning":
            out.append(self.event("response.reasoning_text.done", output_index=index, item_id=item["id"],
                                  content_index=0, text=item["content"][0]["text"]))
        if item["type"] in ("message", "reasoning"):
            out.append(self.event("response.content_part.done", output_index=index, item_id=item["id"],
                                  content_index=0, part=item["content"][0]))
        out.append(self.event("response.output_item.done", output_index=index, item=item))
        return out

    def feed(self, e: ChatEvent) -> list[str]:
        """Applies one event; returns the stream events it produces."""
        out: list[str] = []
        match e:
            case ReasoningDelta(text) | ContentDelta(text):
                kind = "reasoning" if isinstance(e, ReasoningDelta) else "message"
                if self.open_item is None or self.open_item["type"] != kind:
                    out += self.open(_reasoning_item() if kind == "reasoning" else _message_item())
                self.open_item["content"][0]["text"] += text
                index = len(self.response["output"]) - 1
                name = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
                out.append(self.event(name, output_index=index, item_id=self.open_item["id"], content_index=0,
                                      delta=text))
            case ToolCall(call_id, name, arguments):
                item = {"type": "function_call", "id": f"fc_{uuid.uuid4().hex}", "call_id": call_id, "name": name,
                        "arguments": arguments, "status": "in_progress"}
                out += self.open(item)
                index = len(self.response["output"]) - 1
                out.append(self.event("response.function_call_arguments.delta", output_index=index,
                                      item_id=item["id"], delta=arguments))
                out.append(self.event("response.function_call_arguments.done", output_index=index,
                                      item_id=item["id"], arguments=arguments))
            case Usage():
                self.response["usage"] = {
                    "input_tokens": e.prompt_tokens, "output_tokens": e.completion_tokens,
                    "total_tokens": e.prompt_tokens + e.completion_tokens,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": e.reasoning_tokens}}
            case Finish(reason, message):
                out += self.close()
                if reason is FinishReason.LENGTH:
                    self.response.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
                elif reason is FinishReason.ERROR:
                    self.response.update(status="failed", error={"code": "server_error", "message": message})
                else:
                    self.response["status"] = "completed"
                    if reason is FinishReason.INVALID_OUTPUT:
                        self.response["incomplete_details"] = {"reason": "invalid_output", "message": message}
        return out


def _message_item() -> dict:
    return {"type": "message", "id": f"msg_{uuid.uuid4().hex}", "role": "assistant", "status": "in_progress",
            "content": [{"type": "output_text", "text": "", "annotations": []}]}


def _reasoning_item() -> dict:
    return {"type": "reasoning", "id": f"rs_{uuid.uuid4().hex}", "summary": [],
            "content": [{"type": "reasoning_text", "text": ""}], "status": "in_progress"}


async def response(events: AsyncIterator[ChatEvent], model: str) -> dict:
    builder = _Builder(model)
    async for e in events:
        builder.feed(e)
    if builder.response["status"] == "failed":
        raise Unavailable(builder.response["error"]["message"])
    return builder.response


async def stream(events: AsyncIterator[ChatEvent], model: str) -> AsyncIterator[str]:
    builder = _Builder(model)
    yield builder.event("response.created", response=dict(builder.response))
    yield builder.event("response.in_progress", response=dict(builder.response))
    async for e in events:
        for out in builder.feed(e):
            yield out
    final = builder.response["status"]
    name = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(final, "response.failed")
    yield builder.event(name, response=builder.response)
