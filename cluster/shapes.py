"""The shipped model shapes: the `config.json` of gpt-oss-120b and gpt-oss-20b as published, which the
capacity planner sizes and `oss-cluster make-shape-model --like` writes (with no weights)."""

import json
from pathlib import Path

from cluster.harmony.parse import END_OF_TEXT, RETURN
from cluster.harmony.vocab import VOCAB_SIZE


def _gpt_oss(layers: int, experts: int) -> dict:
    return {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss",
        "attention_bias": True, "attention_dropout": 0.0,
        "eos_token_id": RETURN, "pad_token_id": END_OF_TEXT,
        "experts_per_token": 4, "num_experts_per_tok": 4, "num_local_experts": experts,
        "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880, "intermediate_size": 2880,
        "initial_context_length": 4096, "initializer_range": 0.02, "max_position_embeddings": 131072,
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        "num_attention_heads": 64, "num_hidden_layers": layers, "num_key_value_heads": 8,
        "output_router_logits": False,
        "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": [
            "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]},
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
                         "original_max_position_embeddings": 4096, "truncate": False},
        "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": VOCAB_SIZE,
    }


SHAPES = {"gpt-oss-120b": _gpt_oss(layers=36, experts=128), "gpt-oss-20b": _gpt_oss(layers=24, experts=32)}


def shape_config(name_or_path: str) -> dict:
    """A shipped shape by name, or the `config.json` in (or at) a path. ValueError names what exists."""
    if name_or_path in SHAPES:
        return json.loads(json.dumps(SHAPES[name_or_path]))  # a copy the caller may change
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ValueError(f"{name_or_path}: neither a shipped shape ({', '.join(SHAPES)}) nor a config.json")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable config.json: {exc}") from None
    if not isinstance(config, dict) or "num_hidden_layers" not in config:
        raise ValueError(f"{path}: not a model's config.json (no num_hidden_layers)")
    return config
