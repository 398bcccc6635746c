"""The pieces o200k cuts text into before merging bytes: a piece costs time quadratic in its bytes.

Text without spaces, digits or punctuation (one long word, a run of one letter, a long line of
CJK characters, a block of blank lines) is one piece; 4 KiB of it takes ~9 ms to tokenize,
262,000 bytes take ~30 s.
"""

import re
from functools import cache
from typing import NamedTuple

import regex

from cluster.harmony.vocab import O200K_PATTERN

_PIECES = regex.compile(O200K_PATTERN)
MAX_UTF8_BYTES_PER_CHAR = 4


class Piece(NamedTuple):
    chars: int
    utf8_bytes: int


def longest_piece(text: str, at_least_bytes: int) -> Piece:
    """The longest piece of `text` by its UTF-8 bytes, if one has at least `at_least_bytes`;
    `Piece(0, 0)` otherwise.

    A piece never spans both whitespace and other characters, so only long runs of either can
    hold a long piece: they are found at C speed first, and only they are cut into pieces.
    """
    shortest = at_least_bytes // MAX_UTF8_BYTES_PER_CHAR
    runs = [run for run in text.split() if len(run) > shortest]
    runs += _long_whitespace(shortest + 1).findall(text)
    longest = Piece(0, 0)
    for run in runs:
        for piece in _PIECES.findall(run):
            size = len(piece.encode("utf-8", "surrogatepass"))
            if size >= at_least_bytes and size > longest.utf8_bytes:
                longest = Piece(len(piece), size)
    return longest


@cache
def _long_whitespace(chars: int) -> re.Pattern:
    return re.compile(rf"(?<!\s)\s{{{chars},}}")  # from the start of each run: linear, not quadratic
