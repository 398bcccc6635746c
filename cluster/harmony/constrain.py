"""Constraints on a Harmony completion, enforced by the engine's structured-output decoding.

The completion may reason freely on the analysis channel first; then it must emit exactly the
message the request asks for: a tool call on the commentary channel to an allowed function with
arguments valid against its schema, or a final answer that is JSON valid against a schema. The
result is an xgrammar structural tag (as JSON), which vLLM applies token by token.

Harmony's markup is matched as special token ids, never as text: a grammar over text would let
the model spell "<|end|>" with ordinary tokens, which the Harmony parser reads as content.
"""

import json

from cluster.harmony.tokenizer_json import NAMED_SPECIAL_TOKENS
from cluster.types import ChatRequest, Tool, ToolChoice

CHANNEL, CONSTRAIN, MESSAGE, START, END = 200005, 200003, 200008, 200006, 200007
MARKUP = tuple(NAMED_SPECIAL_TOKENS)  # Harmony's markup: <|start|>, <|channel|>, <|message|>, <|end|>, <|call|>...
MAX_JSON_WHITESPACE = 2  # at most this many whitespace characters in a row inside constrained JSON
EMPTY_ARGUMENTS = {"type": "object", "properties": {}, "additionalProperties": False}


def structural_tag(request: ChatRequest, reasoning_max_tokens: int | None) -> str | None:
    """The constraint for `request`, or None when the model decides freely.

    `reasoning_max_tokens` bounds the analysis message under a constraint (None: unbounded).
    After the constrained message only the engine's stop tokens (<|return|>, <|call|>,
    <|endoftext|>) may follow.
    """
    choices = []
    if request.tool_choice is ToolChoice.REQUIRED:
        choices = [_tool_call(t) for t in request.tools]
    elif request.tool_choice is ToolChoice.FUNCTION:
        choices = [_tool_call(t) for t in request.tools if t.name == request.tool_choice_name]
    elif request.json_schema is not None:
        choices = [_final_json(request.json_schema)]
        if request.tool_choice is ToolChoice.AUTO:
            choices += [_tool_call(t) for t in request.tools]
    if not choices:
        return None
    # The analysis text may hold any token but markup: as `any_text` closed by <|end|>, it swallowed
    # <|end|><|start|>assistant<|channel|>final... too, so an unbounded budget constrained nothing.
    thoughts = {"type": "any_tokens", "exclude_tokens": list(MARKUP), "max_tokens": reasoning_max_tokens}
    reasoning = {"type": "optional", "content": _sequence(
        _token(CHANNEL), _text("analysis"), _token(MESSAGE), thoughts, _token(END), _token(START), _text("assistant"))}
    answer = choices[0] if len(choices) == 1 else {"type": "or", "elements": choices}
    return json.dumps({"type": "structural_tag", "format": _sequence(reasoning, answer)})


def _tool_call(tool: Tool) -> dict:
    """<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{arguments valid against the schema}"""
    return _sequence(_token(CHANNEL), _text(f"commentary to=functions.{tool.name} "), _token(CONSTRAIN), _text("json"),
                     _token(MESSAGE), _json(tool.parameters or EMPTY_ARGUMENTS))


def _final_json(schema: dict) -> dict:
    """<|channel|>final<|message|>{JSON valid against the schema} (the format is announced in the developer message)"""
    return _sequence(_token(CHANNEL), _text("final"), _token(MESSAGE), _json(schema))


def _json(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": schema, "max_whitespace_cnt": MAX_JSON_WHITESPACE}


def _sequence(*elements: dict) -> dict:
    return {"type": "sequence", "elements": list(elements)}


def _token(token_id: int) -> dict:
    return {"type": "token", "token": token_id}


def _text(value: str) -> dict:
    return {"type": "const_string", "value": value}
