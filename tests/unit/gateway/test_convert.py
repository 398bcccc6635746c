import pytest

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster.errors import InvalidRequest
from cluster.gateway import convert
from cluster.types import (ContentDelta, Finish, FinishReason, ReasoningDelta, ReasoningEffort, Role, TextChunk,
                           ToolCall, ToolChoice, Usage)


def test_chat_request_round_trip_of_every_field():
    msg = pb.ChatRequest(
        model="m", request_id="r1", priority=-3, reasoning_effort=pb.REASONING_EFFORT_HIGH,
        messages=[pb.Message(role=pb.ROLE_USER, content="hi"),
                  pb.Message(role=pb.ROLE_ASSISTANT, reasoning="think",
                             tool_calls=[pb.ToolCall(id="c1", name="f", arguments="{}")]),
                  pb.Message(role=pb.ROLE_TOOL, content="42", name="f", tool_call_id="c1")],
        tools=[pb.Tool(name="f", description="d", parameters_json_schema='{"type": "object"}')],
        sampling=pb.Sampling(max_tokens=7, temperature=0.5, top_p=0.9, seed=11, stop=["x"], min_tokens=3,
                             ignore_eos=True))
    req = convert.chat_request(msg)
    assert [m.role for m in req.messages] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert req.messages[1].tool_calls == (ToolCall("c1", "f", "{}"),) and req.messages[1].reasoning == "think"
    assert req.messages[2].tool_call_id == "c1" and req.messages[2].name == "f"
    assert req.tools[0].parameters == {"type": "object"}
    assert req.reasoning_effort is ReasoningEffort.HIGH and req.priority == -3 and req.request_id == "r1"
    s = req.sampling
    assert (s.max_tokens, s.temperature, s.top_p, s.seed, s.stop) == (7, 0.5, pytest.approx(0.9), 11, ("x",))
    assert (s.min_tokens, s.ignore_eos) == (3, True)


def test_unset_sampling_fields_mean_defaults_and_explicit_zero_stays_zero():
    s = convert.chat_request(pb.ChatRequest()).sampling
    assert (s.max_tokens, s.temperature, s.top_p, s.seed) == (None, 1.0, 1.0, None)
    assert (s.min_tokens, s.ignore_eos) == (0, False)
    assert convert.chat_request(pb.ChatRequest(sampling=pb.Sampling(max_tokens=0))).sampling.max_tokens == 0
    assert convert.chat_request(pb.ChatRequest(sampling=pb.Sampling(temperature=0))).sampling.temperature == 0


@pytest.mark.parametrize("msg, message", [
    (pb.ChatRequest(messages=[pb.Message(content="x")]), "messages[0].role: ROLE_UNSPECIFIED is not a role"),
    (pb.ChatRequest(messages=[pb.Message(role=42, content="x")]), "messages[0].role: 42 is not a role"),
    (pb.ChatRequest(tools=[pb.Tool(name="f", parameters_json_schema="{nope")]),
     "tools[0].parameters_json_schema: not valid JSON"),
    (pb.ChatRequest(tools=[pb.Tool(name="f", parameters_json_schema="[1]")]), "must be a JSON object"),
    (pb.ChatRequest(reasoning_effort=9), "reasoning_effort: unknown value 9"),
])
def test_bad_wire_values_are_invalid_requests(msg, message):
    with pytest.raises(InvalidRequest) as err:
        convert.chat_request(msg)
    assert message in str(err.value)


def test_generate_request_prompt_variants():
    assert convert.generate_request(pb.GenerateRequest(token_ids=pb.TokenIds(ids=[1, 2]))).token_ids == (1, 2)
    req = convert.generate_request(pb.GenerateRequest(text="hi", stop_token_ids=[5]))
    assert (req.text, req.token_ids, req.stop_token_ids) == ("hi", None, (5,))


def test_priority_class_and_session_id():
    from cluster.errors import InvalidRequest
    from cluster.types import PriorityClass

    req = convert.generate_request(pb.GenerateRequest(text="hi", priority_class=pb.PRIORITY_CLASS_BATCH,
                                                      session_id="chat-7"))
    assert (req.priority_class, req.session_id) == (PriorityClass.BATCH, "chat-7")
    chat = convert.chat_request(pb.ChatRequest(messages=[pb.Message(role=pb.ROLE_USER, content="x")]))
    assert chat.priority_class is PriorityClass.INTERACTIVE and chat.session_id == ""
    with pytest.raises(InvalidRequest, match="priority_class: unknown value 9"):
        convert.chat_request(pb.ChatRequest(priority_class=9))


def test_events_to_wire():
    assert convert.chat_event(ReasoningDelta("r")).reasoning_delta == "r"
    assert convert.chat_event(ContentDelta("c")).content_delta == "c"
    assert convert.chat_event(ToolCall("i", "n", "{}")).tool_call.name == "n"
    usage = convert.chat_event(Usage(3, 4, 1, 12.5, 40.0)).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (3, 4, 1)
    finish = convert.chat_event(Finish(FinishReason.INVALID_OUTPUT, "bad")).finish
    assert (finish.reason, finish.message) == (pb.FINISH_REASON_INVALID_OUTPUT, "bad")
    chunk = convert.generate_event(TextChunk([1, 2], "ab")).tokens
    assert (list(chunk.token_ids), chunk.text) == ([1, 2], "ab")


def test_tool_choice_and_response_schema():
    req = convert.chat_request(pb.ChatRequest(
        tool_choice=pb.ToolChoice(mode=pb.ToolChoice.MODE_FUNCTION, function_name="f"),
        response_json_schema='{"type": "object"}'))
    assert (req.tool_choice, req.tool_choice_name, req.json_schema) == (ToolChoice.FUNCTION, "f", {"type": "object"})
    assert convert.chat_request(pb.ChatRequest()).tool_choice is ToolChoice.AUTO
    with pytest.raises(InvalidRequest, match="response_json_schema: not valid JSON"):
        convert.chat_request(pb.ChatRequest(response_json_schema="{"))
