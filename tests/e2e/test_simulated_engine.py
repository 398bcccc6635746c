"""The stand-in engine behind the real gateway, controller and Ray actors: it answers in well-formed
Harmony through the whole stack, and with the `tiny-cpu` calibration it runs a workload about as fast
as the real tiny model does on vLLM (the session cluster)."""

import json
import statistics
import subprocess
import sys

import pytest

from tests.e2e.conftest import running_cluster

pytestmark = pytest.mark.e2e

STAND_IN = "engine:\n  kind: simulated\n  simulated:\n    calibration: tiny-cpu\n"
TOLERANCE = 0.35  # the stand-in's throughput and TTFT p50 within ±35 % of the real engine's (docs/scale.md)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("stand-in"), STAND_IN, model="trained") as c:
        yield c


def test_the_stand_in_answers_chats_in_harmony_through_the_stack(stand_in):
    reply = stand_in.openai().chat.completions.create(
        model="tiny-gpt-oss", messages=[{"role": "user", "content": "Hello"}], max_tokens=400, seed=1)
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content.strip()
    assert reply.usage.completion_tokens > 10
    replicas = stand_in.status()["replicas"]
    assert [r["state"] for r in replicas] == ["ready"]


def bench(target: str, out) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "bench", "--out", str(out), "--target", target, "--api", "grpc",
         "--endpoint", "completions", "--ignore-eos", "--duration", "90", "--max-requests", "16",
         "--concurrency", "4", "--prompt-tokens", "fixed:128", "--output-tokens", "fixed:64", "--seed", "1"],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["error_rate"] == 0.0
    return summary


def test_the_calibrated_stand_in_is_as_fast_as_the_real_tiny_model(cluster, stand_in, tmp_path):
    runs = {"real": [], "stand-in": []}
    for i in range(2):  # interleaved, so that the machine's noise hits both alike
        runs["real"].append(bench(cluster.grpc_target, tmp_path / f"real{i}"))
        runs["stand-in"].append(bench(stand_in.grpc_target, tmp_path / f"stand-in{i}"))
    figures = {name: (statistics.median(s["output_tokens_per_s"] for s in r),
                      statistics.median(s["ttft_s"]["p50"] for s in r)) for name, r in runs.items()}
    print(f"output tok/s and TTFT p50: {figures}")
    (real_tps, real_ttft), (sim_tps, sim_ttft) = figures["real"], figures["stand-in"]
    assert abs(sim_tps / real_tps - 1) <= TOLERANCE, figures
    assert abs(sim_ttft / real_ttft - 1) <= TOLERANCE, figures
