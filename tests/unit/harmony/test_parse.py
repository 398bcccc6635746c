import random

import pytest

from cluster.harmony.parse import ChatParser
from cluster.types import ContentDelta, FinishReason, ReasoningDelta, ToolCall
from tests.unit.harmony.harmony_tokens import completion


def parse(tokens: list[int], chunk: int = 1) -> tuple[list, ChatParser]:
    parser = ChatParser()
    events = []
    for i in range(0, len(tokens), chunk):
        events.extend(parser.feed(tokens[i:i + chunk]))
    return events, parser


def text_of(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_analysis_then_final():
    tokens = completion("<|channel|>analysis<|message|>User says hi.<|end|>"
                        "<|start|>assistant<|channel|>final<|message|>Hello there!<|return|>")
    events, parser = parse(tokens)
    assert text_of(events, ReasoningDelta) == "User says hi."
    assert text_of(events, ContentDelta) == "Hello there!"
    assert parser.outcome is FinishReason.STOP
    assert parser.reasoning_tokens == len(completion("User says hi."))


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_tool_call(chunk):
    tokens = completion('<|channel|>analysis<|message|>Need weather.<|end|>'
                        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json'
                        '<|message|>{"city": "Paris"}<|call|>')
    events, parser = parse(tokens, chunk)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", '{"city": "Paris"}')]
    assert calls[0].id.startswith("call_")
    assert text_of(events, ContentDelta) == ""  # arguments never leak into content
    assert parser.outcome is FinishReason.TOOL_CALLS


@pytest.mark.parametrize("end", ["<|call|>", "<|return|>", "<|endoftext|>"])
def test_tool_call_ended_by_any_end_of_turn_token(end):
    tokens = completion('<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a": 1}' + end)
    events, parser = parse(tokens)
    assert [(e.name, e.arguments) for e in events if isinstance(e, ToolCall)] == [("f", '{"a": 1}')]
    assert parser.outcome is FinishReason.TOOL_CALLS


def test_end_of_text_ends_a_final_answer():
    events, parser = parse(completion("<|channel|>final<|message|>Bye.<|endoftext|>"))
    assert text_of(events, ContentDelta) == "Bye." and parser.outcome is FinishReason.STOP


def test_multibyte_characters_split_across_chunks():
    text = "naïve 日本語 🦙𝔘 done"
    tokens = completion(f"<|channel|>final<|message|>{text}<|return|>")
    assert len(tokens) > len(text.split())  # some characters span several tokens
    for chunk in (1, 2, 5):
        events, _ = parse(tokens, chunk)
        assert text_of(events, ContentDelta) == text
        assert all("\ufffd" not in e.text for e in events)


def test_truncated_final_answer_ends_with_length():
    tokens = completion("<|channel|>final<|message|>The answer is")
    events, parser = parse(tokens)
    assert text_of(events, ContentDelta) == "The answer is"
    assert parser.outcome is None
    assert parser.finish_reason(FinishReason.LENGTH) is FinishReason.LENGTH


def test_engine_stop_in_the_middle_of_a_message_is_invalid():
    _, parser = parse(completion("<|channel|>final<|message|>Half"))
    assert parser.finish_reason(FinishReason.STOP) is FinishReason.INVALID_OUTPUT


def test_random_tokens_end_as_invalid_output_without_raising():
    rng = random.Random(7)
    for _ in range(20):
        tokens = [rng.randrange(201_088) for _ in range(300)]
        events, parser = parse(tokens, chunk=rng.randint(1, 8))
        reason = parser.finish_reason(FinishReason.LENGTH)
        assert reason in (FinishReason.INVALID_OUTPUT, FinishReason.LENGTH, FinishReason.STOP,
                          FinishReason.TOOL_CALLS)
        assert parser.outcome is FinishReason.INVALID_OUTPUT or events or reason is FinishReason.LENGTH


def test_endless_header_is_invalid_output():
    _, parser = parse(completion("<|channel|>" + "final " * 200))
    assert parser.outcome is FinishReason.INVALID_OUTPUT
    assert "header" in parser.error


def test_malformed_markup_keeps_what_was_decoded():
    tokens = completion("<|channel|>final<|message|>Partial answer<|end|><|message|><|message|>")
    events, parser = parse(tokens)
    assert text_of(events, ContentDelta) == "Partial answer"
    assert parser.outcome is FinishReason.STOP  # the final message completed before the garbage


def test_message_written_as_another_role_is_invalid():
    tokens = completion("<|channel|>analysis<|message|>hmm<|end|><|start|>user<|message|>fake turn<|end|>")
    events, parser = parse(tokens)
    assert text_of(events, ReasoningDelta) == "hmm"
    assert text_of(events, ContentDelta) == ""
    assert parser.outcome is FinishReason.INVALID_OUTPUT


def test_tokens_after_the_outcome_are_ignored():
    tokens = completion("<|channel|>final<|message|>Done.<|return|><|start|>assistant<|channel|>final<|message|>More")
    events, _ = parse(tokens)
    assert text_of(events, ContentDelta) == "Done."
