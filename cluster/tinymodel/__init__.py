"""The embedded default model: a tiny gpt-oss checkpoint written into a cache on first use.

Two variants, both in the real format (`GptOssForCausalLM`, the full 201,088-token vocabulary,
the o200k Harmony tokenizer): `trained` (the default) expands the shipped compact weights, trained
on the project's synthetic Harmony corpus (`python -m cluster.tinymodel.train` reproduces them);
`random` has random weights from a fixed seed and breaks the Harmony format all the time, which
the tests use to show that invalid output stays a finish reason.
"""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from cluster.config import TINY_VARIANTS
from cluster.harmony.parse import CALL, END_OF_TEXT, RETURN
from cluster.harmony.tokenizer_json import FIRST_SPECIAL_ID, write_tokenizer
from cluster.harmony.vocab import VOCAB_SIZE

# Both variants' special ids, as gpt-oss has them: <|return|>, <|endoftext|>, <|startoftext|>
SPECIAL_IDS = dict(eos_token_id=RETURN, pad_token_id=END_OF_TEXT, bos_token_id=FIRST_SPECIAL_ID)
GENERATION_CONFIG = {**SPECIAL_IDS, "eos_token_id": [RETURN, END_OF_TEXT, CALL]}


def ensure_tiny_model(cache_dir: Path, variant: str = "trained") -> Path:
    """Returns the variant's directory under `cache_dir`, writing it if it is not there.

    It is written into a temporary directory and renamed into place, so a crash midway never
    leaves a half-written checkpoint that a later start would load.
    """
    name, write = _variant(variant)
    target = cache_dir / name
    if (target / "config.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=cache_dir))
    try:
        write(staging)
        (staging / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))
        write_tokenizer(staging)
        try:
            staging.rename(target)
        except OSError:  # another process won the race; its copy is identical
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _variant(variant: str) -> tuple[str, Callable[[Path], None]]:
    if variant == "random":
        from cluster.tinymodel import random_weights

        return random_weights.NAME, random_weights.write
    if variant != "trained":
        raise ValueError(f"unknown tiny model variant {variant!r}; one of {', '.join(TINY_VARIANTS)}")
    from cluster.tinymodel import compact

    shipped = compact.SHIPPED
    digest = hashlib.sha256(shipped.read_bytes() + compact.EXPANSION.encode()).hexdigest()[:12]  # new weights, new dir
    return f"tiny-gpt-oss-harmony-{digest}", lambda directory: compact.expand(shipped, directory, VOCAB_SIZE)
