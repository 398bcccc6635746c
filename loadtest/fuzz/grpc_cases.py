"""gRPC fuzz cases drawn from the proto's own descriptors: every field of every request message,
enums with unknown values, oneofs, nested messages; then, now and then, the encoded bytes broken
(corrupted, truncated, a string that is not UTF-8)."""

import json
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from cluster._proto.cluster.v1 import inference_pb2 as pb
from loadtest.fuzz import values

SERVICE = pb.DESCRIPTOR.services_by_name["Inference"]
MAX_DEPTH = 3
T = FieldDescriptor
INTS = {T.TYPE_INT32: (-2**31, 2**31 - 1), T.TYPE_SINT32: (-2**31, 2**31 - 1), T.TYPE_UINT32: (0, 2**32 - 1),
        T.TYPE_INT64: (-2**63, 2**63 - 1), T.TYPE_SINT64: (-2**63, 2**63 - 1), T.TYPE_UINT64: (0, 2**64 - 1)}


@dataclass(frozen=True)
class GrpcCase:
    method: str  # e.g. "Chat"
    payload: bytes
    server_streaming: bool


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy:
    """Messages of this type with any subset of their fields set (a request mostly with the fields
    it needs: its messages, or one of its prompts)."""
    fields = {f.name: _field(f, depth) for f in descriptor.fields if depth < MAX_DEPTH or not f.message_type}
    needed = [names for names in NEEDED.get(descriptor.name, ()) if all(n in fields for n in names)] if not depth \
        else []
    shapes = [st.fixed_dictionaries({n: fields[n] for n in names},
                                    optional={k: v for k, v in fields.items() if k not in names}) for names in needed]
    shapes = [(3, shape) for shape in shapes] + [(1, st.fixed_dictionaries({}, optional=fields))]
    return values.weighted(*shapes).map(lambda kwargs: GetMessageClass(descriptor)(**kwargs))


def _field(f: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if f.name in FIELDS:
        return FIELDS[f.name]
    leaf = _leaf(f, depth)
    generic = st.lists(leaf, max_size=4) if f.is_repeated else leaf
    if depth == 0 and f.name in REALISTIC:  # what real clients send, most of the time
        return values.weighted((2, REALISTIC[f.name]), (1, generic))
    return generic


def _leaf(f: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if f.message_type is not None:
        return st.deferred(lambda: messages(f.message_type, depth + 1))
    if f.enum_type is not None:  # proto3 enums are open: unknown numbers decode too
        return values.weighted((6, st.sampled_from([v.number for v in f.enum_type.values])),
                               (1, st.integers(-3, 100)))
    if f.type in INTS:
        return st.integers(*INTS[f.type])
    return {T.TYPE_STRING: values.texts(surrogates=False), T.TYPE_BOOL: st.booleans(),
            T.TYPE_FLOAT: values.temperatures, T.TYPE_DOUBLE: values.temperatures,
            T.TYPE_BYTES: st.binary(max_size=16)}[f.type]


NEEDED = {"ChatRequest": [("messages",)], "GenerateRequest": [("text",), ("token_ids",)]}
FIELDS = {  # leaves that make a request likely to be served, or to probe one limit
    "model": st.sampled_from([values.MODEL, "", "gpt-4"]), "max_tokens": values.small_counts.filter(
        lambda n: -2**31 <= n < 2**31), "seed": st.integers(-2**63, 2**63 - 1) | values.seeds.filter(
        lambda n: -2**63 <= n < 2**63), "temperature": values.temperatures,
    "priority": st.integers(-100, 100) | st.sampled_from([500, -2**31]),
    "parameters_json_schema": values.schema_texts, "response_json_schema": values.schema_texts,
    "function_name": values.function_names, "name": values.function_names,
    "ids": st.lists(st.integers(0, 201_087) | st.sampled_from([-1, 201_088, 2**31 - 1]), min_size=1, max_size=8),
    "stop_token_ids": st.lists(st.integers(-2, 201_100), max_size=3),
    "request_id": values.labels, "session_id": values.labels, "top_p": values.top_ps,
    "stop": values.stop_lists,
}


_ROLES = {"system": pb.ROLE_SYSTEM, "user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT, "tool": pb.ROLE_TOOL}


def _message(m: dict) -> pb.Message:
    calls = [pb.ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
             for c in m.get("tool_calls") or ()]
    return pb.Message(role=_ROLES[m["role"]], content=m.get("content") or "", tool_calls=calls,
                      tool_call_id=m.get("tool_call_id", ""), reasoning=m.get("reasoning_content") or "")


def _tool(t: dict) -> pb.Tool:
    f = t["function"]
    return pb.Tool(name=f["name"], description=f["description"], parameters_json_schema=json.dumps(f["parameters"]))


REALISTIC = {"messages": values.conversations().map(lambda ms: [_message(m) for m in ms]),
             "tools": values.tool_lists().map(lambda ts: [_tool(t) for t in ts])}


def _broken(payload: bytes, how: str, position: int) -> bytes:
    if not payload or how == "intact":
        return payload
    i = position % len(payload)
    if how == "corrupt":
        return payload[:i] + bytes([payload[i] ^ 0xFF]) + payload[i + 1:]
    if how == "truncated":
        return payload[:i]
    return payload + b"\x12\x02\xff\xfe"  # "not utf-8": a string field (model, tag 2) with invalid bytes


def cases() -> st.SearchStrategy[GrpcCase]:
    def case(method: str, message, how: str, position: int) -> GrpcCase:
        m = SERVICE.methods_by_name[method]
        return GrpcCase(method, _broken(message.SerializeToString(), how, position), m.server_streaming)

    how = st.sampled_from(["intact"] * 12 + ["corrupt", "truncated", "not utf-8"])
    return st.one_of(*(st.builds(case, st.just(name), messages(m.input_type), how, st.integers(0, 10**6))
                       for name, m in SERVICE.methods_by_name.items()))
