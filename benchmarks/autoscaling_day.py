"""Benchmark: a bursty day on stand-in H100 replicas, each autoscaling policy against fixed sizes.

Each sizing runs `oss-cluster simulate` (the real gateway, router, admission, controller and Ray
actors; engines simulated with the `h100-gpt-oss-120b` calibration, its 200 s start included) on
the same seeded workload: the load-test tool's burst pattern (an open loop at --rate while on,
nothing while off), long prompts and short answers, gRPC completions. The clock is compressed by
--time-scale (below 1: the engines run faster than an H100 and every time of the plan and the
workload shrinks alike); every figure is in the simulated cluster's time. Reports per sizing:
- SLO-violation seconds: one-second bins (by request start) whose TTFT p90 exceeds --slo-ttft, or
  that hold a failed request (benchmarks/autoscaling.py's rule);
- replica-seconds: ready replicas integrated over the run;
- TTFT p50/p90, failures, the most replicas ready.
Prints a table, writes JSON. From the repository root, alone on the machine (about 8 minutes a
sizing at the defaults):

    .venv/bin/python benchmarks/autoscaling_day.py --out benchmarks/results/autoscaling_day.json
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from autoscaling import figures  # noqa: E402
from results_file import write_results  # noqa: E402

ENGINE = ("engine:\n  max_num_seqs: 256\n  max_model_len: 8192\n  max_num_batched_tokens: 8192\n{start}"
          "admission:\n  max_in_flight_per_replica: 64\n  max_queue: 4096\n  max_queue_wait_s: 60\n")
# A fixed size is started before the load, so how long its engines take to start changes nothing but
# this benchmark's own time; an autoscaler's replicas start in the calibration's time (200 s).
NO_START = "  simulated:\n    start_s: 0\n"
# Times an operator of 120B replicas that take minutes to start would choose: decide every 10 s on the
# last minute, add up to 4 at once, a minute between scale-ups, keep replicas 3 minutes after the
# load goes.
AUTOSCALING = ("replicas: {low}\nautoscaling:\n  policy: {policy}\n  min_replicas: {low}\n  max_replicas: {high}\n"
               "  max_step: 4\n"
               "  period_s: 10\n  window_s: 60\n  scale_up_cooldown_s: 60\n  scale_down_cooldown_s: 180\n"
               "  params:\n{params}")
POLICIES = {"queue-depth": {"target": 8}, "kv-pressure": {"target": 0.5}, "ttft-slo": {"slo_s": 2.0}}


def sizings(args) -> dict[str, str]:
    out = {f"fixed {n}": f"replicas: {n}\n" + ENGINE.format(start=NO_START) for n in args.fixed}
    for policy in args.policies:
        params = "".join(f"    {k}: {v}\n" for k, v in POLICIES[policy].items())
        out[f"{policy} {args.min_replicas}..{args.max_replicas}"] = AUTOSCALING.format(
            policy=policy, low=args.min_replicas, high=args.max_replicas, params=params) + ENGINE.format(start="")
    return out


def run_sizing(name: str, yaml: str, args, work: Path) -> dict:
    out = work / name.replace(" ", "_").replace(".", "")
    config = work / f"{out.name}.yaml"
    config.write_text(yaml)
    command = [sys.executable, "-m", "cluster.cli", "simulate", "--config", str(config),
               "--calibration", args.calibration, "--time-scale", str(args.time_scale), "--out", str(out),
               "--endpoint", "completions", "--ignore-eos", "--pattern", "burst", "--rate", str(args.rate),
               "--burst-on", str(args.burst_on), "--burst-off", str(args.burst_off),
               "--duration", str(args.duration), "--max-requests", str(args.max_requests),
               "--prompt-tokens", f"fixed:{args.prompt_tokens}", "--output-tokens", f"fixed:{args.output_tokens}",
               "--slo-ttft", str(args.slo_ttft), "--timeout", str(args.timeout), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration * args.time_scale + 1200)
    if done.returncode not in (0, 1):  # 1: some requests failed, which the figures count
        raise RuntimeError(f"{name}: simulate exited {done.returncode}: {done.stderr[-2000:]}")
    result = json.loads((out / "simulation.json").read_text())
    day = [s for s in result["replica_samples"] if s[0] <= args.duration]  # not the last requests' tail
    row = figures(result["requests"], day, args)
    row.pop("time_to_scale_up_s")
    row["replicas_max"] = result["replicas"]["max"]
    row["replicas_mean"] = round(result["replicas"]["mean"], 2)
    row["output_tokens_per_s"] = round(result["summary"]["output_tokens_per_s"], 1)
    return {"config": yaml, "figures": row, "replica_samples": result["replica_samples"], "png": str(out)}


def render(rows: dict) -> str:
    keys = ("requests", "failed", "ttft_p50_s", "ttft_p90_s", "slo_violation_s", "replica_seconds", "replicas_max")
    lines = [f"{'sizing':<22}" + "".join(f"{k:>17}" for k in keys)]
    for name, row in rows.items():
        f = row["figures"]
        lines.append(f"{name:<22}" + "".join(f"{'-' if f[k] is None else round(f[k], 2):>17}" for k in keys))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/autoscaling_day.json"))
    p.add_argument("--calibration", default="h100-gpt-oss-120b")
    p.add_argument("--time-scale", type=float, default=0.5, help="below 1 compresses the day")
    p.add_argument("--fixed", type=int, nargs="*", default=[2, 4, 8])
    p.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    p.add_argument("--min-replicas", type=int, default=2)
    p.add_argument("--max-replicas", type=int, default=32)
    p.add_argument("--rate", type=float, default=24.0, help="requests per second while a burst is on")
    p.add_argument("--burst-on", type=float, default=240.0)
    p.add_argument("--burst-off", type=float, default=300.0)
    p.add_argument("--duration", type=float, default=780.0, help="seconds of the day (simulated time): two bursts")
    p.add_argument("--max-requests", type=int, default=40000)
    p.add_argument("--prompt-tokens", type=int, default=2048)
    p.add_argument("--output-tokens", type=int, default=32)
    p.add_argument("--slo-ttft", type=float, default=2.0, help="seconds")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request deadline, seconds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oss-autoscaling-day-"))
    print(f"logs and plots in {work}", flush=True)
    rows = {}
    for name, yaml in sizings(args).items():
        rows[name] = run_sizing(name, yaml, args, work)
        print(f"{name}: {json.dumps(rows[name]['figures'])}", flush=True)
    print(render(rows))
    write_results(args, "autoscaling_day", date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  machine={"cpus": os.cpu_count()}, sizings=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
