"""`oss-cluster make-shape-model`: a shipped shape's config.json and the tokenizer, no weights."""

import json

import pytest

from cluster.cli import main
from cluster.config import is_shape_model
from cluster.shape_model import MARKER, Overrides, shaped_config, write_shape_model
from cluster.shapes import SHAPES

TINY = ["--layers", "2", "--experts", "8", "--hidden", "64"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One directory written by the command at a tiny shape (writing the tokenizer takes seconds)."""
    directory = tmp_path_factory.mktemp("shape") / "tiny-120b"
    assert main(["make-shape-model", "--like", "gpt-oss-120b", *TINY, str(directory)]) == 0
    return directory


def test_without_overrides_the_config_is_the_shipped_shape_marked_dummy():
    config = shaped_config("gpt-oss-120b")
    assert config.pop(MARKER) == {"weights": "dummy", "like": "gpt-oss-120b", "overrides": {}}
    assert config == SHAPES["gpt-oss-120b"]


def test_a_tiny_shape_changes_what_goes_with_each_override():
    config = shaped_config("gpt-oss-120b", Overrides(layers=3, experts=8, hidden=64))
    expected = dict(SHAPES["gpt-oss-120b"], num_hidden_layers=3, num_local_experts=8, hidden_size=64,
                    intermediate_size=64, num_attention_heads=16, num_key_value_heads=2, head_dim=64,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    assert config[MARKER]["overrides"] == {"layers": 3, "experts": 8, "hidden": 64}
    assert {k: v for k, v in config.items() if k != MARKER} == expected
    assert shaped_config("gpt-oss-20b", Overrides(experts=2))["num_experts_per_tok"] == 2  # top-4 of 2 cannot be


def test_heads_keep_the_grouping_with_two_kv_heads_at_least_and_bf16_experts_drop_the_quantization():
    config = shaped_config("gpt-oss-20b", Overrides(heads=32, head_dim=32, experts_per_token=2, mxfp4=False))
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]) == (32, 4, 32)
    assert shaped_config("gpt-oss-20b", Overrides(heads=8))["num_key_value_heads"] == 2  # tp2 splits them
    assert config["num_experts_per_tok"] == config["experts_per_token"] == 2
    assert "quantization_config" not in config and config[MARKER]["overrides"]["mxfp4"] is False


@pytest.mark.parametrize("overrides, message", [
    (Overrides(hidden=80), "--hidden 80: must be a multiple of 32"),
    (Overrides(hidden=16), "--hidden 16: must be at least 32"),
    (Overrides(head_dim=16), "--head-dim 16: must be at least 32"),
    (Overrides(layers=0), "--layers 0: must be at least 1"),
    (Overrides(experts=4, experts_per_token=5), "--experts-per-token 5: must be from 1 to the 4 experts"),
    (Overrides(heads=17), r"--heads 17: must be a multiple of the key/value heads \(2: one per 8 query heads, at "
                          r"least 2\)"),
])
def test_inconsistent_overrides_name_the_option(overrides, message):
    with pytest.raises(ValueError, match=message):
        shaped_config("gpt-oss-120b", overrides)


def test_the_command_writes_config_tokenizer_and_no_weights(written, capsys):
    assert sorted(p.name for p in written.iterdir()) == [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]
    config = json.loads((written / "config.json").read_text())
    assert config == shaped_config("gpt-oss-120b", Overrides(layers=2, experts=8, hidden=64))
    assert is_shape_model(written) and not is_shape_model(written.parent)
    assert (written.stat().st_mode & 0o777) == 0o755


def test_transformers_loads_the_directory_as_gpt_oss(written):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(written)
    assert tokenizer.convert_tokens_to_ids(["<|start|>", "<|return|>", "<|call|>"]) == [200006, 200002, 200012]
    assert tokenizer.decode(tokenizer.encode("Hello, world")) == "Hello, world"
    config = AutoConfig.from_pretrained(written)
    assert config.model_type == "gpt_oss" and config.num_local_experts == 8 and config.hidden_size == 64


def test_a_bad_like_or_a_used_directory_exits_2_with_the_reason(written, tmp_path, capsys):
    assert main(["make-shape-model", "--like", "gpt-oss-999b", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "make-shape-model: --like: gpt-oss-999b: neither a shipped shape (gpt-oss-120b, gpt-oss-20b)" in err
    assert not (tmp_path / "x").exists()
    assert main(["make-shape-model", "--like", "gpt-oss-20b", str(written)]) == 2
    assert "exists and is not an empty directory" in capsys.readouterr().err


def test_like_may_be_a_directory(written, tmp_path):
    config = shaped_config(str(written), Overrides(layers=4))
    assert config["num_hidden_layers"] == 4 and config["hidden_size"] == 64
    assert config["layer_types"] == ["sliding_attention", "full_attention"] * 2


def test_an_empty_directory_is_used_and_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import cluster.shape_model as shape_model

    def broken(directory):
        raise OSError("disk full")

    monkeypatch.setattr(shape_model, "write_tokenizer", broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OSError):
        write_shape_model(tmp_path / "empty", shaped_config("gpt-oss-20b"))
    assert [p.name for p in tmp_path.iterdir()] == ["empty"] and not any((tmp_path / "empty").iterdir())
