"""HTTP fuzz cases drawn from the request schemas the gateway itself validates with (pydantic's JSON
schemas of its body models), with every field sometimes replaced by arbitrary JSON, and bodies
sometimes broken below the schema: not JSON, nested too deep, wrong media type."""

import json
from dataclasses import dataclass

from hypothesis import strategies as st

from cluster.gateway.http.chat import ChatCompletionBody
from cluster.gateway.http.completions import CompletionBody
from cluster.gateway.http.responses import ResponsesBody
from loadtest.fuzz import values

ENDPOINTS = {"/v1/chat/completions": ChatCompletionBody, "/v1/completions": CompletionBody,
             "/v1/responses": ResponsesBody}
JSON_HEADERS = {"Content-Type": "application/json"}
JUNK_ONE_IN = 8  # in a mutated body, each field is arbitrary JSON one time in 8


@dataclass(frozen=True)
class HttpCase:
    path: str
    body: bytes
    headers: dict
    stream: bool


def from_schema(schema: dict, defs: dict, junk: bool, realistic: dict, name: str = "") -> st.SearchStrategy:
    """A strategy for values of a (pydantic-generated) JSON schema; fields get realistic leaves by
    name, and with `junk` each field is now and then replaced by arbitrary JSON."""
    if name in FIELDS:
        return FIELDS[name]
    if name in realistic:  # what real clients send, most of the time; the schema's own shapes otherwise
        generic = from_schema(schema, defs, junk, {}, name)
        return values.weighted((2, realistic[name]), (1, generic))

    def inner(sub: dict, sub_name: str = name) -> st.SearchStrategy:
        return from_schema(sub, defs, junk, realistic, sub_name)

    if "$ref" in schema:
        return st.deferred(lambda: inner(defs[schema["$ref"].rsplit("/", 1)[1]]))
    if "anyOf" in schema:
        return st.one_of(*(inner(s) for s in schema["anyOf"]))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties")
        if not props:
            return values.schemas if name in ("parameters", "schema", "format") else values.json_values
        required = set(schema.get("required", ()))
        fields = {key: inner(sub, key) for key, sub in props.items()}
        if junk:
            fields = {key: values.weighted((JUNK_ONE_IN - 1, field), (1, values.json_values))
                      for key, field in fields.items()}
        return st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                     optional={k: v for k, v in fields.items() if k not in required})
    if kind == "array":
        return st.lists(inner(schema.get("items", {})), max_size=4)
    return {"string": values.texts(surrogates=True), "integer": st.integers(-2**40, 2**40),
            "number": values.temperatures, "boolean": st.booleans(), "null": st.none()}.get(kind, values.json_values)


FIELDS = {  # leaves that make a body likely to be served, or to probe one limit
    "model": st.sampled_from([values.MODEL, "", "gpt-4"]), "role": st.sampled_from(
        ["system", "developer", "user", "user", "user", "assistant", "tool", "robot"]),
    "max_tokens": values.small_counts, "max_completion_tokens": values.small_counts,
    "max_output_tokens": values.small_counts, "seed": values.seeds, "temperature": values.temperatures,
    "top_p": values.top_ps, "n": st.sampled_from([None, 1, 1, 2]),
    "name": values.function_names, "priority": st.integers(-100, 100) | st.sampled_from([500, -2**40]),
    "request_id": values.labels, "stop": values.stop_lists | values.texts(surrogates=True),
    "prompt": values.texts(surrogates=True) | st.lists(st.integers(-5, 201_100), min_size=1, max_size=8),
    **{rare: values.weighted((5, st.none()), (1, values.json_scalars))  # options few clients send
       for rare in ("logprobs", "echo", "previous_response_id", "stream_options", "user", "metadata")},
}


REALISTIC = {ChatCompletionBody: {"messages": values.conversations(), "tools": values.tool_lists()},
             ResponsesBody: {"input": values.texts(surrogates=False),
                             "tools": values.tool_lists().map(lambda ts: [{"type": "function", **t["function"]}
                                                                          for t in ts])},
             CompletionBody: {}}


def bodies(model_cls, junk: bool) -> st.SearchStrategy[dict]:
    schema = model_cls.model_json_schema()
    return from_schema(schema, schema.get("$defs", {}), junk, REALISTIC[model_cls])


def cases() -> st.SearchStrategy[HttpCase]:
    def case(path: str, body, broken: str | None) -> HttpCase:
        stream = isinstance(body, dict) and body.get("stream") is True
        raw = json.dumps(body).encode()  # writes NaN and Infinity, as some clients do
        headers = dict(JSON_HEADERS)
        if broken == "truncated":
            raw = raw[: len(raw) // 2]
        elif broken == "deep":
            raw = b"[" * 5000 + b"]" * 5000
        elif broken == "media type":
            headers = {"Content-Type": "text/plain"}
        elif broken == "not utf-8":
            raw = raw.replace(b'"', b'"\xff', 1)
        return HttpCase(path, raw, headers, stream)

    broken = st.sampled_from([None] * 16 + ["truncated", "deep", "media type", "not utf-8"])
    return st.one_of(*(st.builds(case, st.just(path), body, broken) for path, model_cls in ENDPOINTS.items()
                       for body in [values.weighted((4, bodies(model_cls, junk=False)),
                                                    (2, bodies(model_cls, junk=True)), (1, values.json_values))]))
