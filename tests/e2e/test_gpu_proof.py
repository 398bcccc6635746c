"""`benchmarks/gpu_proof.sh --cpu-rehearsal` at its smallest: our stack and bare `vllm serve` each start once on
a tiny gpt-oss-120b shape (dummy weights through the project's loader on both sides), the load-test tool runs
every step against each, and one JSON holds both sides and their ratios. No speed is asserted."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY, REQUESTS, OUTPUT_TOKENS = ("1", "2"), 2, 8


def test_cpu_rehearsal_measures_both_sides_at_every_concurrency(tmp_path):
    out = tmp_path / "gpu_proof.json"
    cmd = ["bash", str(ROOT / "benchmarks/gpu_proof.sh"), "--cpu-rehearsal", "--python", sys.executable,
           "--work", str(tmp_path / "work"), "--out", str(out), "--concurrency", ",".join(CONCURRENCY),
           "--requests", ",".join([str(REQUESTS)] * len(CONCURRENCY)), "--prompt-tokens", "32",
           "--output-tokens", f"fixed:{OUTPUT_TOKENS}", "--warmup-requests", "0", "--step-duration", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # its trap stops the servers it started
        output, _ = proc.communicate(timeout=120)
        pytest.fail(f"gpu_proof.sh did not finish in 420 s:\n{output[-4000:]}")
    assert proc.returncode == 0, output[-4000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "gpu_proof" and report["mode"] == "cpu-rehearsal"
    assert report["workload"]["concurrency"] == [int(c) for c in CONCURRENCY]
    assert report["model"]["load_format"] == "dummy" and report["model"]["shape"]["like"] == "gpt-oss-120b"
    sides = report["sides"]
    assert set(sides) == {"ours", "bare"}
    for name, side in sides.items():
        assert side["start"]["ready_after_s"] > 0 and side["kv_cache_tokens"] > 0, (name, side)
        assert set(side["steps"]) == set(CONCURRENCY), (name, side["steps"])
        for step in side["steps"].values():
            assert step["succeeded"] == REQUESTS and step["error_rate"] == 0, (name, step)
            assert step["output_tokens_per_s"] > 0 and step["ttft_ms"]["p50"] > 0
            assert step["output_tokens_per_request"]["mean"] == OUTPUT_TOKENS  # ignore_eos: exactly as planned
    assert sides["ours"]["prompt_tokens"] == sides["bare"]["prompt_tokens"] > 32  # tokenized alike
    assert "cluster.cli serve" in sides["ours"]["command"] and "vllm" in sides["bare"]["command"]
    assert set(report["ratios"]) == set(CONCURRENCY)
    for ratio in report["ratios"].values():
        assert all(value > 0 for value in ratio.values()), ratio
    assert "a CPU rehearsal, not a GPU result" in output and "ours/bare" in output
