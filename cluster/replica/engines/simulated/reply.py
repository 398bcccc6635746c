"""What the stand-in says: seeded token ids forming a well-formed Harmony reply, an analysis message then
a final one, so that the gateway's parsing path is exercised as with a real model.

The words are o200k token ids of ordinary English words (each a single token with its leading space;
the unit test decodes them).
"""

import random

CHANNEL, MESSAGE, START, END, RETURN = 200005, 200008, 200006, 200007, 200002
ANALYSIS, FINAL, ASSISTANT = 35644, 17196, 173781
OPEN_ANALYSIS = (CHANNEL, ANALYSIS, MESSAGE)
OPEN_FINAL = (END, START, ASSISTANT, CHANNEL, FINAL, MESSAGE)
FRAMING = len(OPEN_ANALYSIS) + len(OPEN_FINAL) + 1  # and the closing <|return|>
# " The user asks about the weather in Paris. We should answer briefly and clearly. It is a good day
#  to explain how maps were drawn, where rivers run, and why people travel. Let me think ..."
WORDS = (623, 1825, 31064, 1078, 290, 11122, 306, 12650, 13, 1416, 1757, 6052, 51088, 326, 15603, 13, 1225,
         382, 261, 1899, 2163, 316, 16644, 1495, 24267, 1504, 25279, 11, 1919, 54935, 2461, 11, 326, 4436,
         1665, 6410, 13, 9024, 668, 2411, 1078, 480, 5983, 656, 5983, 11, 1815, 16794, 483, 261, 4022,
         18522, 13)


class Reply:
    """The reply to one request: `length` tokens ending in <|return|>, then words for as long as a caller
    that ignores the end asks. `length` is at least the framing (10 tokens) plus two words."""

    def __init__(self, seed: str, length: int):
        self._rng = random.Random(seed)
        self.length = max(length, FRAMING + 2)
        words = self.length - FRAMING
        analysis = max(1, words // 3)
        self._tokens = [*OPEN_ANALYSIS, *self._words(analysis), *OPEN_FINAL, *self._words(words - analysis), RETURN]

    def token(self, index: int) -> int:
        """The index-th token of the reply (0 first)."""
        if index < len(self._tokens):
            return self._tokens[index]
        return WORDS[self._rng.randrange(len(WORDS))]

    def _words(self, n: int) -> list[int]:
        start = self._rng.randrange(len(WORDS))
        return [WORDS[(start + i) % len(WORDS)] for i in range(n)]


def reply_length(seed: str, mean: int, min_tokens: int) -> int:
    """A reply's planned length: uniform over [mean/2, 3·mean/2], never ending before `min_tokens`."""
    rng = random.Random(f"length:{seed}")
    return max(rng.randint(max(1, mean // 2), max(1, mean * 3 // 2)), min_tokens + 1)
