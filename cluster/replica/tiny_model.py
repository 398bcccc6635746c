"""The embedded default model: a tiny gpt-oss checkpoint generated deterministically on first use.

It has the real architecture (`GptOssForCausalLM`, attention sinks, sliding and full layers, MoE
with a router, YaRN RoPE) and the real 201,088-token vocabulary, with random weights (fixed seed).
It exists so the whole stack runs for real on a CPU; its answers are noise.
"""

import json
import shutil
import tempfile
from pathlib import Path

from cluster.harmony.tokenizer_json import write_tokenizer
from cluster.harmony.vocab import VOCAB_SIZE

TINY_MODEL_VERSION = "tiny-gpt-oss-v1"
SEED = 0
ARCHITECTURE = dict(
    num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2, hidden_size=64, intermediate_size=64,
    head_dim=64, num_attention_heads=4, num_key_value_heads=2, sliding_window=128,
    layer_types=["sliding_attention", "full_attention"], vocab_size=VOCAB_SIZE,
    max_position_embeddings=131072, tie_word_embeddings=False,
    eos_token_id=200002, pad_token_id=199999, bos_token_id=199998,
)
GENERATION_CONFIG = {"eos_token_id": [200002, 199999, 200012], "pad_token_id": 199999, "bos_token_id": 199998}


def ensure_tiny_model(cache_dir: Path) -> Path:
    """Returns the tiny model's directory under `cache_dir`, generating it if it is not there.

    Generation writes into a temporary directory and renames it into place, so a crash midway
    never leaves a half-written checkpoint that a later start would load.
    """
    target = cache_dir / TINY_MODEL_VERSION
    if (target / "config.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=cache_dir))
    try:
        _write_checkpoint(staging)
        try:
            staging.rename(target)
        except OSError:  # another process won the race; its copy is identical
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_checkpoint(directory: Path) -> None:
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    config = GptOssConfig(**ARCHITECTURE)
    config.architectures = ["GptOssForCausalLM"]
    torch.manual_seed(SEED)
    model = GptOssForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2))
    write_tokenizer(directory)
