"""`oss-cluster plan` end to end, in process."""

import json

import pytest

from cluster.cli import main
from cluster.config import load_config
from cluster.shapes import shape_config

PLAN_512 = ["plan", "--model", "gpt-oss-120b", "--gpu", "H100-80GB", "--context", "8192", "--concurrency", "512"]


def test_it_prints_a_table_and_the_recommended_cluster_yaml(capsys):
    assert main(PLAN_512) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["layout", "GPUs", "weights"]
    assert "recommended: dep4 × 1 replica(s) = 4 H100-80GB, 720 sequences of 8,192 tokens (target 512)" in out
    assert "layout: dep4\nreplicas: 1\n" in out


def test_json_parses_and_carries_every_layout(capsys):
    assert main(PLAN_512 + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["layout"] for row in report["layouts"]][:4] == ["tp1", "tp2", "tp4", "tp8"]
    assert report["recommendation"]["layout"] == "dep4" and report["recommendation"]["seqs"] == 720
    assert report["inputs"]["gpu_memory_utilization"] == 0.92


def test_fp8_defaults_to_utilization_095_and_a_short_plan_exits_1(capsys):
    assert main(["plan", "--model", "gpt-oss-20b", "--gpu", "A100-80GB", "--kv-dtype", "fp8", "--json",
                 "--concurrency", "1000000"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"]["gpu_memory_utilization"] == 0.95 and report["recommendation"]["short"]


def test_it_writes_a_config_that_loads_for_a_checkpoint_directory(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(shape_config("gpt-oss-120b")))
    out = tmp_path / "cluster.yaml"
    assert main(PLAN_512[:2] + [str(tmp_path)] + PLAN_512[3:] + ["--write-config", str(out)]) == 0
    config = load_config(out)
    assert (config.model.path, str(config.layout), config.replicas) == (str(tmp_path), "dep4", 1)


@pytest.mark.parametrize("flags, message", [
    (["--gpu", "H100"], "--gpu: 'H100' is not a known GPU; known: H100-80GB, H200-141GB, A100-80GB"),
    (["--model", "/nonexistent"], "--model: /nonexistent: neither a shipped shape"),
    (["--context", "32"], "--context: 32 is out of range; allowed: 64 to 131072"),
    (["--kv-dtype", "int8"], "--kv-dtype: 'int8'; allowed: bf16, fp8"),
    (["--layouts", "tp2,tp3"], "--layouts: tp3: tensor parallel 3 does not divide"),
    (["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization: 1.5 is out of range"),
    (["--nodes", "0"], "--nodes: 0 is out of range"),
])
def test_bad_input_exits_2_with_one_line_naming_the_flag(flags, message, capsys):
    assert main(PLAN_512 + flags) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"oss-cluster plan: {message}") and err.count("\n") == 1


def test_an_unreadable_config_json_is_a_model_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{not json")
    assert main(["plan", "--model", str(tmp_path), "--gpu", "H200-141GB"]) == 2
    assert capsys.readouterr().err.startswith(f"oss-cluster plan: --model: {tmp_path}/config.json: not a readable")
