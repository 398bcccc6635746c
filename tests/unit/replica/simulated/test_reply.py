from cluster.harmony.parse import ChatParser
from cluster.harmony.vocab import harmony_encoding
from cluster.replica.engines.simulated.reply import WORDS, Reply, reply_length
from cluster.types import ContentDelta, FinishReason, ReasoningDelta


def test_the_words_are_single_tokens_of_english_words():
    encoding = harmony_encoding()
    for token in WORDS:
        text = encoding.decode([token])
        assert text.strip() and (text.strip().isalpha() or text in (".", ","))


def test_a_reply_is_well_formed_harmony_reasoning_then_an_answer():
    reply = Reply("0:7", 40)
    parser = ChatParser()
    events = parser.feed([reply.token(i) for i in range(reply.length)])
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert reasoning.strip() and answer.strip()
    assert parser.outcome is FinishReason.STOP


def test_replies_are_seeded():
    a, b, c = Reply("0:1", 30), Reply("0:1", 30), Reply("0:2", 30)
    assert [a.token(i) for i in range(40)] == [b.token(i) for i in range(40)]
    assert [a.token(i) for i in range(30)] != [c.token(i) for i in range(30)]


def test_reply_lengths_spread_around_the_mean_and_respect_min_tokens():
    lengths = [reply_length(str(i), 100, 0) for i in range(200)]
    assert min(lengths) >= 50 and max(lengths) <= 150 and 90 < sum(lengths) / len(lengths) < 110
    assert reply_length("x", 100, 400) == 401
