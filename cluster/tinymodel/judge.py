"""Whether a reply is well-formed Harmony: a final answer, or a schema-valid call of a given tool."""

import json
from dataclasses import dataclass

from jsonschema.validators import Draft202012Validator

from cluster.harmony.parse import CALL, RETURN, ChatParser
from cluster.types import ChatRequest, ContentDelta, FinishReason, ToolCall


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str  # "answer", "tool call", or what is wrong
    called: bool = False


def judge(request: ChatRequest, reply_ids: list[int]) -> Verdict:
    """Parses the reply as the gateway would, at the end of the engine's stream (stopped on a stop token)."""
    parser = ChatParser()
    events = parser.feed(reply_ids)
    reason = parser.finish_reason(FinishReason.STOP if reply_ids and reply_ids[-1] in (RETURN, CALL)
                                  else FinishReason.LENGTH)
    calls = [e for e in events if isinstance(e, ToolCall)]
    if reason is FinishReason.TOOL_CALLS:
        return _judge_calls(request, calls)
    if reason is not FinishReason.STOP:
        return Verdict(False, f"finish {reason.value}: {parser.error}".rstrip(": "))
    if not "".join(e.text for e in events if isinstance(e, ContentDelta)).strip():
        return Verdict(False, "no final answer")
    return Verdict(True, "answer")


def _judge_calls(request: ChatRequest, calls: list[ToolCall]) -> Verdict:
    tools = {t.name: t for t in request.tools}
    for call in calls:
        if call.name not in tools:
            return Verdict(False, f"called {call.name!r}, which was not given", called=True)
        try:
            arguments = json.loads(call.arguments)
        except ValueError:
            return Verdict(False, f"arguments of {call.name} are not JSON", called=True)
        schema = tools[call.name].parameters or {"type": "object"}
        errors = list(Draft202012Validator(schema).iter_errors(arguments))
        if errors:
            return Verdict(False, f"arguments of {call.name} break its schema: {errors[0].message}", called=True)
    return Verdict(True, "tool call", called=True)
