import hashlib
import json

import pytest
from safetensors import safe_open

from cluster.tinymodel import ensure_tiny_model


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("variant", ["trained", "random"])
def test_tiny_model_is_deterministic_and_in_the_gpt_oss_format(tmp_path, variant):
    first = ensure_tiny_model(tmp_path / "a", variant)
    second = ensure_tiny_model(tmp_path / "b", variant)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
        assert sha256(first / name) == sha256(second / name), name
    config = json.loads((first / "config.json").read_text())
    assert config["architectures"] == ["GptOssForCausalLM"] and config["model_type"] == "gpt_oss"
    assert config["vocab_size"] == 201_088 and config["head_dim"] >= 32 and config["dtype"] == "bfloat16"
    assert config["num_local_experts"] > config["num_experts_per_tok"] > 1
    assert config["rope_parameters"]["rope_type"] == "yarn"
    with safe_open(first / "model.safetensors", "pt") as f:
        names = set(f.keys())
        assert f.get_tensor("model.embed_tokens.weight").shape == (201_088, config["hidden_size"])
        assert f.get_tensor("lm_head.weight").shape == (201_088, config["hidden_size"])
    assert any("sinks" in n for n in names) and any("router" in n for n in names)
    assert not list(tmp_path.glob("a/.tiny-*")), "the staging directory was left behind"


def test_variants_live_apart_and_are_reused(tmp_path):
    trained, untrained = ensure_tiny_model(tmp_path), ensure_tiny_model(tmp_path, "random")
    assert trained != untrained
    stamp = (trained / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(tmp_path) == trained
    assert (trained / "model.safetensors").stat().st_mtime_ns == stamp


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown tiny model variant 'big'; one of trained, random"):
        ensure_tiny_model(tmp_path, "big")
