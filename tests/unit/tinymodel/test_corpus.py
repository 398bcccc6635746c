import json
from dataclasses import replace

import pytest
from jsonschema import validate

from cluster.harmony.vocab import harmony_encoding
from cluster.tinymodel import corpus, train
from cluster.tinymodel.judge import judge
from cluster.types import ReasoningEffort, Role

EXAMPLES = corpus.examples(corpus.TRAINING_SEED, 400)


def test_the_same_seed_gives_the_same_corpus_and_held_out_prompts_differ():
    again = corpus.examples(corpus.TRAINING_SEED, 400)
    assert [train.sequence(e) for e in again[:50]] == [train.sequence(e) for e in EXAMPLES[:50]]
    held_out = {train.sequence(e).ids for e in corpus.held_out(50)}
    assert len(held_out - {train.sequence(e).ids for e in EXAMPLES}) > 40


def test_every_kind_appears_with_tools_and_multi_turn_chats():
    assert {e.kind for e in EXAMPLES} == set(corpus._KINDS)
    assert any(e.request.tools and e.kind not in ("tool_call", "tool_result") for e in EXAMPLES)
    assert any(sum(m.role is Role.USER for m in e.request.messages) > 1 for e in EXAMPLES)
    assert any(m.role in (Role.SYSTEM, Role.DEVELOPER) for e in EXAMPLES for m in e.request.messages)
    assert {e.request.reasoning_effort for e in EXAMPLES} == set(ReasoningEffort)


def test_every_reply_the_model_learns_is_well_formed():
    for example in EXAMPLES:
        verdict = judge(example.request, train.reply_tokens(example))
        assert verdict.ok, (example.kind, verdict.why)
        assert verdict.called == (example.kind == "tool_call")
        if verdict.called:
            validate(json.loads(example.reply[-1].content[0].text), example.tool.parameters)


def test_replies_end_the_turn_and_start_with_the_analysis_channel():
    encoding = harmony_encoding()
    for example in EXAMPLES[:50]:
        text = encoding.decode(train.reply_tokens(example))
        assert text.startswith("<|channel|>analysis<|message|>")
        assert text.endswith("<|call|>" if example.kind == "tool_call" else "<|return|>")


@pytest.mark.parametrize("kind", ["greeting", "fact", "task", "tool_call", "tool_result"])
def test_reasoning_grows_with_the_effort(kind):
    by_effort = {}
    for e in EXAMPLES:
        if e.kind == kind:
            by_effort.setdefault(e.request.reasoning_effort, set()).add(e.reply[0].content[0].text.count(". ") + 1)
    assert max(by_effort[ReasoningEffort.LOW]) < min(by_effort[ReasoningEffort.MEDIUM])
    assert max(by_effort[ReasoningEffort.MEDIUM]) < min(by_effort[ReasoningEffort.HIGH])


def test_the_vocabulary_leaves_the_noise_out_and_keeps_every_reply_token():
    sequences = [train.sequence(e) for e in EXAMPLES]
    rows = set(train.vocabulary(EXAMPLES, sequences))
    assert all(set(s.ids[s.prompt_tokens:]) <= rows for s in sequences)
    noise = {t for s, e in zip(sequences, EXAMPLES) if e.kind == "noise" for t in s.ids[:s.prompt_tokens]}
    assert len(noise - rows) > 0.5 * len(noise)
    assert len(rows) < 5000


def test_a_broken_reply_is_judged_wrong():
    example = next(e for e in EXAMPLES if e.kind == "tool_call")
    assert not judge(example.request, train.reply_tokens(example)[:-3]).ok  # cut before the call ends
    for recipient, arguments in (("functions.not_given", "{}"), (example.reply[-1].recipient, '{"x": 1}')):
        call = example.reply[-1].with_recipient(recipient)
        call.content[0].text = arguments
        verdict = judge(example.request, train.reply_tokens(replace(example, reply=(example.reply[0], call))))
        assert not verdict.ok and verdict.called
