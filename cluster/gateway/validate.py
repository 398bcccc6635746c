"""Request validation: every field checked, every message naming the field and what is allowed."""

import math
import re
import dataclasses
from dataclasses import dataclass

from cluster.errors import InvalidRequest, ModelNotFound
from cluster.harmony.vocab import VOCAB_SIZE
from cluster.types import ChatRequest, GenerateRequest, Role, Sampling, ToolChoice

TOOL_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces: safe in logs and headers
MAX_SESSION_ID_LENGTH = 256
MAX_STOP_STRINGS = 4
MAX_STOP_LENGTH = 256
MAX_TOOLS = 128
MAX_MESSAGES = 4096
PRIORITY_RANGE = (-100, 100)
SEED_RANGE = (-2**63, 2**63 - 1)  # what the engine's sampler takes (a 64-bit integer)


@dataclass(frozen=True)
class Limits:
    """What a request may ask of this gateway's model."""

    model_name: str
    max_model_len: int
    default_max_tokens: int
    max_message_bytes: int
    constrained_reasoning_max_tokens: int | None = None  # reasoning budget under a structured-output constraint
    context_owner: str = "the model's"  # whose context max_model_len is: the model's, or a tenant's smaller one

    def for_tenant(self, max_context: int, tenant: str) -> "Limits":
        """These limits with a tenant's `max_context` (0: none), where it is the smaller context."""
        if not max_context or max_context >= self.max_model_len:
            return self
        return dataclasses.replace(self, max_model_len=max_context, context_owner=f"tenant {tenant}'s",
                                   default_max_tokens=min(self.default_max_tokens, max_context))


def validate_chat(request: ChatRequest, limits: Limits) -> None:
    """Checks everything that can be checked before rendering; raises InvalidRequest or ModelNotFound."""
    _common(request.model, request.request_id, request.priority, request.session_id, request.sampling, limits)
    if not request.messages:
        raise InvalidRequest("messages: at least one message is required")
    if len(request.messages) > MAX_MESSAGES:
        raise InvalidRequest(f"messages: {len(request.messages)} messages; at most {MAX_MESSAGES} are allowed")
    if len(request.tools) > MAX_TOOLS:
        raise InvalidRequest(f"tools: {len(request.tools)} tools; at most {MAX_TOOLS} are allowed")
    tool_names = set()
    for i, tool in enumerate(request.tools):
        if not TOOL_NAME.fullmatch(tool.name):
            raise InvalidRequest(f"tools[{i}].name: {tool.name[:80]!r} is not a valid function name; use 1 to 64 "
                                 "letters, digits, underscores or dashes")
        if tool.name in tool_names:
            raise InvalidRequest(f"tools[{i}].name: {tool.name!r} is declared twice")
        tool_names.add(tool.name)
    if request.tool_choice is ToolChoice.REQUIRED and not request.tools:
        raise InvalidRequest("tool_choice: 'required' needs at least one tool in `tools`")
    if request.tool_choice is ToolChoice.FUNCTION and request.tool_choice_name not in tool_names:
        raise InvalidRequest(f"tool_choice: function {request.tool_choice_name[:80]!r} is not among `tools`; "
                             f"declared: {', '.join(sorted(tool_names)) or 'none'}")
    if request.json_schema is not None and not isinstance(request.json_schema, dict):
        raise InvalidRequest("response_format.json_schema.schema: must be a JSON object (a JSON schema)")
    call_ids = set()
    for i, m in enumerate(request.messages):
        where = f"messages[{i}]"
        size = _utf8_size(f"{where}.content", m.content) + _utf8_size(f"{where}.reasoning", m.reasoning)
        size += sum(_utf8_size(f"{where}.tool_calls[{j}].arguments", c.arguments) for j, c in enumerate(m.tool_calls))
        if size > limits.max_message_bytes:
            raise InvalidRequest(f"{where}.content: {size} bytes; at most {limits.max_message_bytes} bytes are "
                                 "allowed per message")
        if m.tool_calls and m.role is not Role.ASSISTANT:
            raise InvalidRequest(f"{where}.tool_calls: only assistant messages carry tool calls")
        if m.reasoning and m.role is not Role.ASSISTANT:
            raise InvalidRequest(f"{where}.reasoning: only assistant messages carry reasoning")
        for j, call in enumerate(m.tool_calls):
            if not TOOL_NAME.fullmatch(call.name):
                raise InvalidRequest(f"{where}.tool_calls[{j}].name: {call.name[:80]!r} is not a valid function name")
            call_ids.add(call.id)
        if m.role is Role.TOOL:
            if m.name and not TOOL_NAME.fullmatch(m.name):  # it is written into the Harmony message header
                raise InvalidRequest(f"{where}.name: {m.name[:80]!r} is not a valid function name; use 1 to 64 "
                                     "letters, digits, underscores or dashes")
            if not m.name and m.tool_call_id not in call_ids:
                raise InvalidRequest(f"{where}: a tool message needs `name`, or a `tool_call_id` of an earlier "
                                     "assistant tool call")
        elif m.role is Role.ASSISTANT:
            if not (m.content or m.tool_calls or m.reasoning):
                raise InvalidRequest(f"{where}: an assistant message needs content, reasoning or tool calls")
        elif not m.content:
            raise InvalidRequest(f"{where}.content: must not be empty for a {m.role.value} message")
    if request.messages[-1].role is Role.ASSISTANT:
        raise InvalidRequest("messages: the last message must not be an assistant message; the model writes the next "
                             "assistant turn")


def validate_generate(request: GenerateRequest, limits: Limits) -> None:
    _common(request.model, request.request_id, request.priority, request.session_id, request.sampling, limits)
    if request.token_ids is None and request.text is None:
        raise InvalidRequest("prompt: set either token_ids or text")
    if request.token_ids is not None:
        if not request.token_ids:
            raise InvalidRequest("prompt.token_ids: at least one token id is required")
        if len(request.token_ids) >= limits.max_model_len:  # checked before looking at each id
            raise _beyond_context(len(request.token_ids), limits)
        _check_token_ids("prompt.token_ids", request.token_ids)
    elif not request.text:
        raise InvalidRequest("prompt.text: must not be empty")
    elif _utf8_size("prompt.text", request.text) > limits.max_message_bytes:
        raise InvalidRequest(f"prompt.text: at most {limits.max_message_bytes} bytes are allowed")
    _check_token_ids("stop_token_ids", request.stop_token_ids)
    if len(request.stop_token_ids) > 64:
        raise InvalidRequest("stop_token_ids: at most 64 are allowed")


def completion_budget(prompt_tokens: int, sampling: Sampling, limits: Limits) -> int:
    """max_tokens for the engine, once the prompt is rendered; raises if prompt and completion cannot fit."""
    room = limits.max_model_len - prompt_tokens
    if room < 1:
        raise _beyond_context(prompt_tokens, limits)
    if sampling.max_tokens is None:
        budget = min(limits.default_max_tokens, room)
        if sampling.min_tokens > budget:
            raise InvalidRequest(f"sampling.min_tokens: {sampling.min_tokens} is more than the {budget} tokens this "
                                 "request may generate without max_tokens; set max_tokens too")
        return budget
    if sampling.max_tokens > room:
        raise InvalidRequest(f"sampling.max_tokens: {sampling.max_tokens} plus the prompt's {prompt_tokens} tokens "
                             f"exceeds {limits.context_owner} context of {limits.max_model_len} tokens; ask for at "
                             f"most {room}")
    return sampling.max_tokens


def _common(model: str, request_id: str, priority: int, session_id: str, sampling: Sampling, limits: Limits) -> None:
    if model and model != limits.model_name:
        raise ModelNotFound(f"model: {model[:80]!r} is not served here; available: {limits.model_name}")
    if request_id and not REQUEST_ID.fullmatch(request_id):
        raise InvalidRequest("request_id: use 1 to 128 printable ASCII characters without spaces")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise InvalidRequest(f"session_id: {len(session_id)} characters; at most {MAX_SESSION_ID_LENGTH} are allowed")
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise InvalidRequest(f"priority: {priority} is out of range; allowed: {PRIORITY_RANGE[0]} to "
                             f"{PRIORITY_RANGE[1]}")
    s = sampling
    if s.max_tokens is not None and s.max_tokens < 1:
        raise InvalidRequest(f"sampling.max_tokens: {s.max_tokens}; must be at least 1 (or unset for the default)")
    if s.min_tokens < 0:
        raise InvalidRequest(f"sampling.min_tokens: {s.min_tokens}; must be at least 0")
    if s.max_tokens is not None and s.min_tokens > s.max_tokens:
        raise InvalidRequest(f"sampling.min_tokens: {s.min_tokens} is more than max_tokens ({s.max_tokens})")
    if s.seed is not None and not SEED_RANGE[0] <= s.seed <= SEED_RANGE[1]:
        raise InvalidRequest(f"sampling.seed: {s.seed} does not fit in 64 bits; allowed: {SEED_RANGE[0]} to "
                             f"{SEED_RANGE[1]}")
    if not (math.isfinite(s.temperature) and 0 <= s.temperature <= 2):
        raise InvalidRequest(f"sampling.temperature: {s.temperature}; allowed: 0 to 2")
    if not (math.isfinite(s.top_p) and 0 < s.top_p <= 1):
        raise InvalidRequest(f"sampling.top_p: {s.top_p}; allowed: greater than 0, at most 1")
    if len(s.stop) > MAX_STOP_STRINGS:
        raise InvalidRequest(f"sampling.stop: {len(s.stop)} strings; at most {MAX_STOP_STRINGS} are allowed")
    for i, stop in enumerate(s.stop):
        if not 1 <= len(stop) <= MAX_STOP_LENGTH:
            raise InvalidRequest(f"sampling.stop[{i}]: must be 1 to {MAX_STOP_LENGTH} characters")


def _check_token_ids(field: str, ids) -> None:
    for i, token in enumerate(ids):
        if not 0 <= token < VOCAB_SIZE:
            raise InvalidRequest(f"{field}[{i}]: {token} is not a token id; allowed: 0 to {VOCAB_SIZE - 1}")


def _utf8_size(field: str, text: str) -> int:
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise InvalidRequest(f"{field}: contains an unpaired UTF-16 surrogate; send valid Unicode text") from None


def _beyond_context(prompt_tokens: int, limits: Limits) -> InvalidRequest:
    return InvalidRequest(f"the prompt has {prompt_tokens} tokens; {limits.context_owner} context is "
                          f"{limits.max_model_len} tokens; shorten the conversation")
