"""The o200k vocabulary shipped inside the package: located, hash-checked, never downloaded."""

import hashlib
import os
from functools import cache
from pathlib import Path

VOCAB_FILE = Path(__file__).with_name("o200k_base.tiktoken")
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
VOCAB_SIZE = 201_088
# How o200k splits text into pieces before byte-pair merging (tiktoken's and Harmony's own).
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])


class VocabularyError(RuntimeError):
    """The shipped vocabulary file is missing or altered."""


@cache
def use_shipped_vocabulary() -> Path:
    """Checks the shipped file once and points tiktoken and Harmony at it.

    Harmony reads `TIKTOKEN_ENCODINGS_BASE` and loads `<base>/o200k_base.tiktoken` from disk
    instead of fetching it, which is what keeps air-gapped sites working.
    """
    if not VOCAB_FILE.is_file():
        raise VocabularyError(f"vocabulary file missing: {VOCAB_FILE}")
    digest = hashlib.sha256(VOCAB_FILE.read_bytes()).hexdigest()
    if digest != VOCAB_SHA256:
        raise VocabularyError(f"vocabulary file {VOCAB_FILE} has sha256 {digest}, expected {VOCAB_SHA256}")
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(VOCAB_FILE.parent)
    return VOCAB_FILE


@cache
def harmony_encoding():
    """The gpt-oss Harmony encoding, loaded from the shipped vocabulary (once per process)."""
    use_shipped_vocabulary()
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
