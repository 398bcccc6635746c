"""The one place where protobuf messages become domain types and back."""

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster.errors import InvalidRequest
from cluster.gateway.json_input import parse_json
from cluster.types import (ChatEvent, ChatRequest, ContentDelta, Finish, FinishReason, GenerateEvent, GenerateRequest,
                           Message, ReasoningDelta, ReasoningEffort, Role, Sampling, TextChunk, Tool, ToolCall,
                           PriorityClass, ToolChoice, Usage)

_ROLES = {pb.ROLE_SYSTEM: Role.SYSTEM, pb.ROLE_DEVELOPER: Role.DEVELOPER, pb.ROLE_USER: Role.USER,
          pb.ROLE_ASSISTANT: Role.ASSISTANT, pb.ROLE_TOOL: Role.TOOL}
_EFFORTS = {pb.REASONING_EFFORT_UNSPECIFIED: ReasoningEffort.MEDIUM, pb.REASONING_EFFORT_LOW: ReasoningEffort.LOW,
            pb.REASONING_EFFORT_MEDIUM: ReasoningEffort.MEDIUM, pb.REASONING_EFFORT_HIGH: ReasoningEffort.HIGH}
_FINISH = {FinishReason.STOP: pb.FINISH_REASON_STOP, FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
           FinishReason.TOOL_CALLS: pb.FINISH_REASON_TOOL_CALLS, FinishReason.CANCELLED: pb.FINISH_REASON_CANCELLED,
           FinishReason.ERROR: pb.FINISH_REASON_ERROR, FinishReason.INVALID_OUTPUT: pb.FINISH_REASON_INVALID_OUTPUT}
_TOOL_CHOICES = {pb.ToolChoice.MODE_AUTO: ToolChoice.AUTO, pb.ToolChoice.MODE_NONE: ToolChoice.NONE,
                 pb.ToolChoice.MODE_REQUIRED: ToolChoice.REQUIRED, pb.ToolChoice.MODE_FUNCTION: ToolChoice.FUNCTION}
_CLASSES = {pb.PRIORITY_CLASS_UNSPECIFIED: PriorityClass.INTERACTIVE,
            pb.PRIORITY_CLASS_INTERACTIVE: PriorityClass.INTERACTIVE, pb.PRIORITY_CLASS_BATCH: PriorityClass.BATCH}
_ROLE_NAMES = "ROLE_SYSTEM, ROLE_DEVELOPER, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL"


def chat_request(msg: pb.ChatRequest) -> ChatRequest:
    if msg.reasoning_effort not in _EFFORTS:
        raise InvalidRequest(f"reasoning_effort: unknown value {msg.reasoning_effort}; allowed: LOW, MEDIUM, HIGH")
    if msg.tool_choice.mode not in _TOOL_CHOICES:
        raise InvalidRequest(f"tool_choice.mode: unknown value {msg.tool_choice.mode}; allowed: MODE_AUTO, "
                             "MODE_NONE, MODE_REQUIRED, MODE_FUNCTION")
    return ChatRequest(
        tool_choice=_TOOL_CHOICES[msg.tool_choice.mode], tool_choice_name=msg.tool_choice.function_name,
        json_schema=_json_object(msg.response_json_schema, "response_json_schema"),
        messages=tuple(_message(m, i) for i, m in enumerate(msg.messages)),
        model=msg.model, reasoning_effort=_EFFORTS[msg.reasoning_effort],
        tools=tuple(_tool(t, i) for i, t in enumerate(msg.tools)),
        sampling=_sampling(msg.sampling), request_id=msg.request_id, priority=msg.priority,
        priority_class=_priority_class(msg.priority_class), session_id=msg.session_id)


def generate_request(msg: pb.GenerateRequest) -> GenerateRequest:
    which = msg.WhichOneof("prompt")
    return GenerateRequest(
        model=msg.model, token_ids=tuple(msg.token_ids.ids) if which == "token_ids" else None,
        text=msg.text if which == "text" else None, sampling=_sampling(msg.sampling),
        stop_token_ids=tuple(msg.stop_token_ids), request_id=msg.request_id, priority=msg.priority,
        priority_class=_priority_class(msg.priority_class), session_id=msg.session_id)


def _priority_class(value: int) -> PriorityClass:
    if value not in _CLASSES:
        raise InvalidRequest(f"priority_class: unknown value {value}; allowed: PRIORITY_CLASS_INTERACTIVE, "
                             "PRIORITY_CLASS_BATCH")
    return _CLASSES[value]


def _message(m: pb.Message, index: int) -> Message:
    if m.role not in _ROLES:
        raise InvalidRequest(f"messages[{index}].role: {pb.Role.Name(m.role) if m.role in pb.Role.values() else m.role}"
                             f" is not a role; allowed: {_ROLE_NAMES}")
    calls = tuple(ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in m.tool_calls)
    return Message(role=_ROLES[m.role], content=m.content, tool_calls=calls, name=m.name,
                   tool_call_id=m.tool_call_id, reasoning=m.reasoning)


def _tool(t: pb.Tool, index: int) -> Tool:
    schema = _json_object(t.parameters_json_schema, f"tools[{index}].parameters_json_schema")
    return Tool(name=t.name, description=t.description, parameters=schema)


def _json_object(text: str, field: str) -> dict | None:
    """A JSON-schema text field → dict; empty → None."""
    if not text.strip():
        return None
    schema = parse_json(text, field)
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{field}: must be a JSON object (a JSON schema)")
    return schema


def _sampling(s: pb.Sampling) -> Sampling:
    return Sampling(
        max_tokens=s.max_tokens if s.HasField("max_tokens") else None,
        temperature=s.temperature if s.HasField("temperature") else 1.0,
        top_p=s.top_p if s.HasField("top_p") else 1.0,
        seed=s.seed if s.HasField("seed") else None, stop=tuple(s.stop), min_tokens=s.min_tokens,
        ignore_eos=s.ignore_eos)


def _usage(u: Usage) -> pb.Usage:
    return pb.Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                    reasoning_tokens=u.reasoning_tokens, time_to_first_token_ms=u.time_to_first_token_ms,
                    total_time_ms=u.total_time_ms)


def _finish(f: Finish) -> pb.Finish:
    return pb.Finish(reason=_FINISH[f.reason], message=f.message)


def chat_event(event: ChatEvent) -> pb.ChatEvent:
    match event:
        case ReasoningDelta(text):
            return pb.ChatEvent(reasoning_delta=text)
        case ContentDelta(text):
            return pb.ChatEvent(content_delta=text)
        case ToolCall(id, name, arguments):
            return pb.ChatEvent(tool_call=pb.ToolCall(id=id, name=name, arguments=arguments))
        case Usage():
            return pb.ChatEvent(usage=_usage(event))
        case Finish():
            return pb.ChatEvent(finish=_finish(event))
    raise TypeError(f"not a chat event: {event!r}")


def generate_event(event: GenerateEvent) -> pb.GenerateEvent:
    match event:
        case TextChunk(token_ids, text):
            return pb.GenerateEvent(tokens=pb.TokenChunk(token_ids=token_ids, text=text))
        case Usage():
            return pb.GenerateEvent(usage=_usage(event))
        case Finish():
            return pb.GenerateEvent(finish=_finish(event))
    raise TypeError(f"not a generate event: {event!r}")
