"""Constraints on a Harmony completion, enforced by the engine's structured-output decoding.

The completion may reason freely on the analysis channel first; then it must emit exactly the
message the request asks for: a tool call on the commentary channel to an allowed function with
arguments valid against its schema, or a final answer that is JSON valid against a schema. The
result is an xgrammar structural tag (as JSON), which vLLM applies token by token.
"""

import json

from cluster.types import ChatRequest, Tool, ToolChoice

ANALYSIS_BEGIN = "<|channel|>analysis<|message|>"
NEXT_MESSAGE = "<|start|>assistant"
FINAL_JSON_BEGIN = "<|channel|>final <|constrain|>json<|message|>"
MAX_JSON_WHITESPACE = 2  # at most this many whitespace characters in a row inside constrained JSON
EMPTY_ARGUMENTS = {"type": "object", "properties": {}, "additionalProperties": False}


def tool_call_begin(name: str) -> str:
    return f"<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"


def structural_tag(request: ChatRequest, reasoning_max_tokens: int | None) -> str | None:
    """The constraint for `request`, or None when the model decides freely.

    `reasoning_max_tokens` bounds the analysis message under a constraint (None: unbounded).
    The end of each constrained message is left to the grammar's end, where only the engine's
    stop tokens (<|return|>, <|call|>, <|endoftext|>) may follow.
    """
    choices = []
    if request.tool_choice is ToolChoice.REQUIRED:
        choices = [_tool_call(t) for t in request.tools]
    elif request.tool_choice is ToolChoice.FUNCTION:
        choices = [_tool_call(t) for t in request.tools if t.name == request.tool_choice_name]
    elif request.json_schema is not None:
        choices = [_json_message(FINAL_JSON_BEGIN, request.json_schema)]
        if request.tool_choice is ToolChoice.AUTO:
            choices += [_tool_call(t) for t in request.tools]
    if not choices:
        return None
    reasoning = {"type": "any_text", "max_tokens": reasoning_max_tokens}
    analysis = {"type": "tag", "begin": ANALYSIS_BEGIN, "content": reasoning, "end": "<|end|>"}
    optional_reasoning = {"type": "optional", "content": {"type": "sequence", "elements": [
        analysis, {"type": "const_string", "value": NEXT_MESSAGE}]}}
    answer = choices[0] if len(choices) == 1 else {"type": "or", "elements": choices}
    tag = {"type": "sequence", "elements": [optional_reasoning, answer]}
    return json.dumps({"type": "structural_tag", "format": tag})


def _tool_call(tool: Tool) -> dict:
    return _json_message(tool_call_begin(tool.name), tool.parameters or EMPTY_ARGUMENTS)


def _json_message(begin: str, schema: dict) -> dict:
    return {"type": "tag", "begin": begin, "end": "",
            "content": {"type": "json_schema", "json_schema": schema, "max_whitespace_cnt": MAX_JSON_WHITESPACE}}
