"""The trained tiny model in its compact form, and its expansion into the full gpt-oss format.

Training only sees the vocabulary rows the corpus uses (a few thousand of 201,088), plus one row
for every other token ("unknown"). Expanding gives every other token the unknown row's embedding,
so any prompt reads sensibly, and an output row that can never win: hidden channel
`BIAS_CHANNEL` holds `BIAS_VALUE` at every position (nothing in a layer writes to it), so an
output row of `-UNUSED_LOGIT_WEIGHT` on that channel alone scores far below every trained row.
"""

import json
from pathlib import Path

from cluster.tinymodel import SPECIAL_IDS

SHIPPED = Path(__file__).with_name("tiny-gpt-oss.safetensors")  # made by `python -m cluster.tinymodel.train`
HIDDEN = 128
BIAS_CHANNEL = HIDDEN - 1
BIAS_VALUE = 1.0
# × BIAS_VALUE / rms(hidden state): far below any trained logit; rms reaches ~85 on odd prompts (checked by a test)
UNUSED_LOGIT_WEIGHT = 100_000.0
EXPANSION = f"unused-logit-weight={UNUSED_LOGIT_WEIGHT}"  # what else than the weights shapes the expanded checkpoint
ARCHITECTURE = dict(
    num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2, hidden_size=HIDDEN, intermediate_size=256,
    head_dim=32, num_attention_heads=8, num_key_value_heads=8, sliding_window=128,
    layer_types=["sliding_attention", "full_attention"], max_position_embeddings=131072, tie_word_embeddings=False,
    **SPECIAL_IDS,
)
VOCAB_KEY = "vocabulary"  # the full id of each compact row but the last (unknown)
WRITERS = ("self_attn.o_proj.weight", "self_attn.o_proj.bias", "mlp.experts.down_proj", "mlp.experts.down_proj_bias")


def hold_bias_channel(state: dict) -> None:
    """Pins the bias channel in place: the constant in every embedding, zero in every layer's output."""
    import torch

    with torch.no_grad():
        state["model.embed_tokens.weight"][:, BIAS_CHANNEL] = BIAS_VALUE
        state["model.norm.weight"][BIAS_CHANNEL] = 1.0
        for name, tensor in state.items():
            if name.endswith(WRITERS[0]) or name.endswith(WRITERS[1]):
                tensor[BIAS_CHANNEL] = 0.0
            elif name.endswith(WRITERS[2]):
                tensor[:, :, BIAS_CHANNEL] = 0.0
            elif name.endswith(WRITERS[3]):
                tensor[:, BIAS_CHANNEL] = 0.0


def compact_model(architecture: dict, rows: int):
    """The model over `rows` vocabulary rows (the last one "unknown"), as transformers builds it: to
    train, or to sample the compact weights without expanding them."""
    from transformers import GptOssConfig, GptOssForCausalLM

    special_ids = dict(pad_token_id=None, bos_token_id=None, eos_token_id=None)  # full ids; the engine's business
    config = GptOssConfig(**{**architecture, **special_ids}, vocab_size=rows)
    config._attn_implementation = "eager"  # attention sinks
    return GptOssForCausalLM(config)


def load_compact_model(path: Path):
    """The shipped (or any trained) compact weights in their model, for inference; and the full id of
    each row."""
    state, vocabulary, architecture = load_compact(path)
    model = compact_model(architecture, len(vocabulary) + 1).eval()
    model.load_state_dict({name: t.float() for name, t in state.items()})
    return model, vocabulary


def load_compact(path: Path) -> tuple[dict, list[int], dict]:
    """The compact state (bf16 tensors by Hugging Face name), the full id of each vocabulary row, and
    the architecture it was trained with."""
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        state = {name: f.get_tensor(name) for name in f.keys()}
        architecture = json.loads(f.metadata()["architecture"])
    vocabulary = state.pop(VOCAB_KEY).tolist()
    return state, vocabulary, architecture


def save_compact(state: dict, vocabulary: list[int], architecture: dict, path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    tensors = {name: t.detach().to(torch.bfloat16).contiguous() for name, t in state.items()}
    tensors[VOCAB_KEY] = torch.tensor(vocabulary, dtype=torch.int32)
    save_file(tensors, path, metadata={"format": "pt", "architecture": json.dumps(architecture, sort_keys=True)})


def expand(compact: Path, directory: Path, vocab_size: int) -> None:
    """Writes the full checkpoint (`model.safetensors`, `config.json`) into `directory`."""
    import torch
    from safetensors.torch import save_file
    from transformers import GptOssConfig

    state, vocabulary, architecture = load_compact(compact)
    rows = torch.tensor(vocabulary, dtype=torch.long)
    embed, head = state["model.embed_tokens.weight"], state["lm_head.weight"]
    full_embed = embed[-1:].expand(vocab_size, embed.shape[1]).clone()  # the unknown row everywhere...
    full_embed[rows] = embed[:-1]  # ...but where the corpus taught a row
    full_head = torch.zeros(vocab_size, head.shape[1], dtype=head.dtype)
    full_head[:, BIAS_CHANNEL] = -UNUSED_LOGIT_WEIGHT
    full_head[rows] = head[:-1]
    state["model.embed_tokens.weight"], state["lm_head.weight"] = full_embed, full_head
    save_file(state, directory / "model.safetensors", metadata={"format": "pt"})
    config = GptOssConfig(**architecture, vocab_size=vocab_size)
    config.architectures = ["GptOssForCausalLM"]
    config.dtype = "bfloat16"
    config.save_pretrained(directory)
