"""Benchmark: is the stand-in engine with the `tiny-cpu` calibration as fast through the whole stack
as the real tiny model on vLLM?

Starts two clusters of one replica on loopback, one on vLLM with the tiny model (random weights, the
same shape as the trained ones) and one on the stand-in, and runs the same workload through each with
`oss-cluster bench` (gRPC completions, `--requests` prompts of `--prompt-tokens` tokens and exactly
`--output-tokens` output tokens, `--concurrency` at a time), alternating between the two for
`--rounds` rounds so that the machine's noise hits both alike. Prints the medians and their ratios,
writes JSON. Run from the repository root, alone on the machine (about 4 minutes):

    .venv/bin/python benchmarks/stand_in_fidelity.py
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from loadtest.local_cluster import serving

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_results  # noqa: E402

TOLERANCE = 0.35  # what docs/scale.md calls close enough: each ratio within ×0.65..×1.35
ENGINES = {
    "vllm": "model:\n  tiny_variant: random\n",
    "stand-in": "engine:\n  kind: simulated\n  simulated:\n    calibration: tiny-cpu\n",
}


def bench(args, target: str, out: Path) -> dict:
    command = [sys.executable, "-m", "cluster.cli", "bench", "--out", str(out), "--target", target, "--api", "grpc",
               "--endpoint", "completions", "--ignore-eos", "--duration", "300",
               "--max-requests", str(args.requests), "--concurrency", str(args.concurrency),
               "--prompt-tokens", f"fixed:{args.prompt_tokens}", "--output-tokens", f"fixed:{args.output_tokens}",
               "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=420)
    if done.returncode != 0:
        raise RuntimeError(f"bench failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = json.loads((out / "results.json").read_text())["summary"]
    if summary["error_rate"] != 0:
        raise RuntimeError(f"bench against {target} had errors: {summary}")
    return {"output_tokens_per_s": summary["output_tokens_per_s"], "ttft_p50_s": summary["ttft_s"]["p50"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stand_in_fidelity.json"))
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {name: [] for name in ENGINES}
    with tempfile.TemporaryDirectory(prefix="stand-in-fidelity-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        clusters = {}
        for name, engine_yaml in ENGINES.items():
            (work / name).mkdir()
            clusters[name] = stack.enter_context(serving(work / name, "", engine_yaml))
            print(f"{name}: ready", flush=True)
        for i in range(args.rounds):
            for name, local in clusters.items():
                run = bench(args, local.grpc_target, work / f"{name}-{i}")
                runs[name].append(run)
                print(f"round {i + 1} {name:>8}: {run['output_tokens_per_s']:.1f} tok/s, "
                      f"TTFT p50 {run['ttft_p50_s'] * 1000:.0f} ms", flush=True)
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    ratios = {k: medians["stand-in"][k] / medians["vllm"][k] for k in medians["vllm"]}
    per_round = [{k: s[k] / v[k] for k in v} for v, s in zip(runs["vllm"], runs["stand-in"])]
    print(f"medians: {json.dumps(medians)}")
    within = all(abs(r - 1) <= TOLERANCE for r in ratios.values())
    print("stand-in / vLLM: " + ", ".join(f"{k} ×{v:.2f}" for k, v in ratios.items())
          + f"; {'within' if within else 'NOT within'} ±{TOLERANCE:.0%}")
    write_results(args, "stand_in_fidelity", {"tolerance": TOLERANCE}, medians=medians, ratios=ratios,
                  within_tolerance=within, per_round_ratios=per_round, runs=runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
