"""The stand-in engine behind the real gateway, controller and Ray actors: it answers in well-formed
Harmony through the whole stack, and its steps take at least their calibrated time there too. How close
`tiny-cpu` comes to the real tiny model's speed is a benchmark's question, not a timed test's:
`benchmarks/stand_in_fidelity.py` (docs/scale.md)."""

import json
import subprocess
import sys

import pytest

from cluster.replica.engines.simulated.timing import load_calibration
from tests.e2e.conftest import running_cluster

pytestmark = pytest.mark.e2e

PROMPT_TOKENS, OUTPUT_TOKENS = 128, 64


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return tmp_path_factory.mktemp("trace") / "engine.jsonl"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory, trace):
    engine = f"engine:\n  kind: simulated\n  simulated:\n    calibration: tiny-cpu\n    trace_file: {trace}\n"
    with running_cluster(tmp_path_factory.mktemp("stand-in"), engine, model="trained") as c:
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
         "--endpoint", "completions", "--ignore-eos", "--duration", "90", "--max-requests", "8",
         "--concurrency", "4", "--prompt-tokens", f"fixed:{PROMPT_TOKENS}",
         "--output-tokens", f"fixed:{OUTPUT_TOKENS}", "--seed", "1"],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["error_rate"] == 0.0
    return summary


def test_every_step_takes_at_least_its_calibrated_time_through_the_stack(stand_in, trace, tmp_path):
    """A lower bound, which a slow or busy machine cannot break: a step waits out its calibrated time
    and whatever else runs can only add to it. A stand-in that ignored its calibration would not."""
    already = trace.read_text().count("\n") if trace.exists() else 0
    bench(stand_in.grpc_target, tmp_path / "bench")
    lines = [json.loads(line) for line in trace.read_text().splitlines()[already:]]
    assert len(lines) == 8 and {r["output_tokens"] for r in lines} == {OUTPUT_TOKENS}, lines
    assert min(r["prompt_tokens"] for r in lines) >= PROMPT_TOKENS, lines  # words, as the tokenizer counts them
    calibration = load_calibration("tiny-cpu")
    decode = calibration.step_time(0, 1, 0)  # one decode step of one sequence, the cheapest there is
    assert decode > 0.01  # the calibration does charge time
    slack = 0.99  # the engine's clock and the trace's are both monotonic; this absorbs rounding
    for r in lines:
        assert r["first_token"] - r["arrival"] >= slack * calibration.step_time(r["prompt_tokens"], 0, 0), r
        assert r["ended"] - r["first_token"] >= slack * (OUTPUT_TOKENS - 1) * decode, r
