"""The random-weight variant: the gpt-oss architecture with untrained weights from a fixed seed.

It has the real architecture (attention sinks, sliding and full layers, MoE with a router, YaRN
RoPE) and vocabulary; its output is noise and almost never valid Harmony.
"""

from pathlib import Path

from cluster.harmony.vocab import VOCAB_SIZE
from cluster.tinymodel import SPECIAL_IDS

NAME = "tiny-gpt-oss-random-v1"
SEED = 0
ARCHITECTURE = dict(
    num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2, hidden_size=64, intermediate_size=64,
    head_dim=64, num_attention_heads=4, num_key_value_heads=2, sliding_window=128,
    layer_types=["sliding_attention", "full_attention"], vocab_size=VOCAB_SIZE,
    max_position_embeddings=131072, tie_word_embeddings=False,
    **SPECIAL_IDS,
)


def write(directory: Path) -> None:
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    config = GptOssConfig(**ARCHITECTURE)
    config.architectures = ["GptOssForCausalLM"]
    torch.manual_seed(SEED)
    model = GptOssForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
