"""`oss-cluster simulate`: a cluster.yaml run with stand-in engines under a workload, its figures
scaled back from the stretched clock."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_simulate_predicts_from_a_stretched_run_and_scales_back(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("replicas: 2\nengine:\n  max_num_seqs: 8\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "simulate", "--config", str(config), "--calibration", "tiny-cpu",
         "--time-scale", "2", "--out", str(out), "--duration", "6", "--max-requests", "24", "--concurrency", "4",
         "--endpoint", "completions", "--ignore-eos", "--prompt-tokens", "fixed:64", "--output-tokens", "fixed:16"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "predicted for" in done.stdout and "ready replicas: min" in done.stdout
    simulation = json.loads((out / "simulation.json").read_text())
    stretched = json.loads((out / "stretched" / "results.json").read_text())["summary"]
    predicted = simulation["summary"]
    assert stretched["error_rate"] == 0 and stretched["requests"] >= 4
    assert predicted["output_tokens_per_s"] == pytest.approx(2 * stretched["output_tokens_per_s"])
    assert predicted["ttft_s"]["p50"] == pytest.approx(stretched["ttft_s"]["p50"] / 2)
    assert simulation["replicas"]["max"] == 2
    assert (out / "simulation.png").stat().st_size > 10_000
    assert stretched["output_tokens"]["p50"] == 16  # ignore_eos: the stand-in ran to max_tokens
