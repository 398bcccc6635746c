import hashlib
import json

from safetensors import safe_open

from cluster.replica.tiny_model import ensure_tiny_model


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_model_is_deterministic_and_in_the_gpt_oss_format(tmp_path):
    first = ensure_tiny_model(tmp_path / "a")
    second = ensure_tiny_model(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert sha256(first / name) == sha256(second / name), name
    config = json.loads((first / "config.json").read_text())
    assert config["architectures"] == ["GptOssForCausalLM"] and config["model_type"] == "gpt_oss"
    assert config["vocab_size"] == 201_088 and config["head_dim"] >= 32
    assert config["num_local_experts"] > config["num_experts_per_tok"] > 1
    assert config["rope_parameters"]["rope_type"] == "yarn"
    with safe_open(first / "model.safetensors", "pt") as f:
        names = set(f.keys())
        assert f.get_tensor("model.embed_tokens.weight").shape == (201_088, config["hidden_size"])
    assert any("sinks" in n for n in names) and any("router" in n for n in names)
    assert not list(tmp_path.glob("a/.tiny-*")), "the staging directory was left behind"


def test_existing_model_is_reused(tmp_path):
    path = ensure_tiny_model(tmp_path)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(tmp_path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
