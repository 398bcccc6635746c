from cluster.harmony.text import TextDecoder
from tests.unit.harmony.harmony_tokens import completion


def decode_in_chunks(tokens: list[int], size: int) -> list[str]:
    decoder = TextDecoder()
    pieces = [decoder.feed(tokens[i:i + size]) for i in range(0, len(tokens), size)]
    return pieces + [decoder.flush()]


def test_characters_split_across_tokens_are_held_back_until_complete():
    text = "a 🦙 b 𝔘 日本"
    tokens = completion(text)
    pieces = decode_in_chunks(tokens, 1)
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_special_tokens_decode_to_their_names():
    assert "".join(decode_in_chunks(completion("<|channel|>final<|message|>ok<|return|>"), 2)) == \
        "<|channel|>final<|message|>ok<|return|>"


def test_invalid_bytes_do_not_stall_the_stream():
    lone_byte = completion("🦙")[:1]  # first byte(s) of a 4-byte character, never completed
    decoder = TextDecoder()
    assert decoder.feed(lone_byte) == ""
    assert decoder.flush() == "\ufffd"
