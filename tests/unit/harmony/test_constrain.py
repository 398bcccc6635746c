import json

import pytest

from cluster.harmony.constrain import CHANNEL, CONSTRAIN, END, MARKUP, MESSAGE, START, structural_tag
from cluster.harmony.tokenizer_json import write_tokenizer
from cluster.harmony.vocab import VOCAB_SIZE
from cluster.types import Tool, ToolChoice
from tests.factories import chat, weather_tool
from tests.unit.harmony.harmony_tokens import encoding

TIME = Tool("get_time", "", {"type": "object", "properties": {"utc": {"type": "boolean"}}})
ANSWER = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def tag(**kwargs) -> dict | None:
    raw = structural_tag(chat(**kwargs), reasoning_max_tokens=32)
    return None if raw is None else json.loads(raw)


def answer_of(t: dict) -> dict:
    assert t["type"] == "structural_tag"
    reasoning, answer = t["format"]["elements"]
    assert reasoning["type"] == "optional"  # free reasoning first
    steps = reasoning["content"]["elements"]
    assert steps[0] == {"type": "token", "token": CHANNEL} and steps[1]["value"] == "analysis"
    assert steps[2] == {"type": "token", "token": MESSAGE}
    assert steps[3] == {"type": "any_tokens", "exclude_tokens": list(MARKUP), "max_tokens": 32}
    assert steps[4:6] == [{"type": "token", "token": END}, {"type": "token", "token": START}]
    return answer


def test_auto_and_none_leave_the_model_free():
    assert tag(tools=(weather_tool(),)) is None
    assert tag(tools=(weather_tool(),), tool_choice=ToolChoice.NONE) is None


def test_required_allows_exactly_the_declared_tools_with_their_schemas():
    answer = answer_of(tag(tools=(weather_tool(), TIME), tool_choice=ToolChoice.REQUIRED))
    assert answer["type"] == "or"
    headers = [e["elements"][1]["value"] for e in answer["elements"]]
    assert headers == ["commentary to=functions.get_weather ", "commentary to=functions.get_time "]
    first = answer["elements"][0]["elements"]
    assert [first[0]["token"], first[2]["token"], first[4]["token"]] == [CHANNEL, CONSTRAIN, MESSAGE]
    assert first[5]["json_schema"] == weather_tool().parameters


def test_named_tool_is_the_only_choice():
    answer = answer_of(tag(tools=(weather_tool(), TIME), tool_choice=ToolChoice.FUNCTION, tool_choice_name="get_time"))
    assert answer["type"] == "sequence" and answer["elements"][1]["value"] == "commentary to=functions.get_time "


def test_json_schema_constrains_the_final_channel_only():
    answer = answer_of(tag(json_schema=ANSWER))
    assert [answer["elements"][0]["token"], answer["elements"][1]["value"], answer["elements"][2]["token"]] == \
        [CHANNEL, "final", MESSAGE]
    assert answer["elements"][3]["json_schema"] == ANSWER


def test_json_schema_with_auto_tools_allows_either():
    answer = answer_of(tag(json_schema=ANSWER, tools=(weather_tool(),)))
    assert answer["type"] == "or" and len(answer["elements"]) == 2


def test_tool_without_parameters_gets_an_empty_object():
    answer = answer_of(tag(tools=(Tool("ping"),), tool_choice=ToolChoice.REQUIRED))
    assert answer["elements"][5]["json_schema"]["properties"] == {}


@pytest.fixture(scope="module")
def compiler(tmp_path_factory):
    """xgrammar's compiler over the o200k Harmony tokenizer, as the engine builds it."""
    import xgrammar
    from transformers import PreTrainedTokenizerFast

    directory = tmp_path_factory.mktemp("tokenizer")
    write_tokenizer(directory)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"))
    return xgrammar.GrammarCompiler(xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=VOCAB_SIZE))


def accepted(compiler, tag_json: str, text: str) -> str:
    """The longest prefix of `text` (Harmony markup as tokens) the constraint lets the engine produce."""
    import xgrammar

    matcher = xgrammar.GrammarMatcher(compiler.compile_structural_tag(tag_json))
    tokens = encoding().encode(text, allowed_special="all")
    taken = 0
    while taken < len(tokens) and matcher.accept_token(tokens[taken]):
        taken += 1
    return encoding().decode(tokens[:taken])


REASONING = "<|channel|>analysis<|message|>The user asks about the weather.<|end|><|start|>assistant"
# then a stop token, which the engine allows once the constraint is complete
CALL = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}'


@pytest.mark.parametrize("budget", [None, 64])
def test_required_tool_choice_cannot_be_escaped_through_the_reasoning(compiler, budget):
    """Unbounded reasoning (the default) once let a final answer pass inside the analysis text."""
    tag_json = structural_tag(chat(tools=(weather_tool(),), tool_choice=ToolChoice.REQUIRED), budget)
    assert accepted(compiler, tag_json, REASONING + CALL) == REASONING + CALL
    assert accepted(compiler, tag_json, CALL) == CALL  # reasoning is optional
    final = REASONING + "<|channel|>final<|message|>Sunny.<|return|>"
    assert accepted(compiler, tag_json, final) == REASONING + "<|channel|>"
