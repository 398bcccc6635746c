"""Benchmark: property-based fuzzing of both APIs by the ten thousand, on the real stack.

Draws cases from the HTTP request schemas and the proto (`loadtest/fuzz`, the same strategies as
tests/e2e/test_fuzz.py), half HTTP and half gRPC, seeded by `--seed` (Hypothesis's generation still
varies a little between runs); starts a fresh `oss-cluster serve` on loopback (one tiny CPU
replica); sends every case, `--concurrency` at a time; then reads the gateway's own event-loop lag
metrics. Beside it, a control process runs an empty asyncio loop measured the same way: its lag is
what the machine alone (2 shared cores, an engine, Ray, the client) does to any process, and the
gateway's lag is read against it. Prints the outcome counts, every problem (500 / INTERNAL /
UNKNOWN, a traceback, a stream without its end, a hang) and both lags; writes JSON. Run from the
repository root:

    .venv/bin/python benchmarks/fuzz.py --cases 10000 --out benchmarks/results/fuzz.json

A quick check: `--cases 300`.
"""

import argparse
import asyncio
import collections
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest.fuzz import grpc_cases, http_cases
from loadtest.fuzz.runner import send_all, draw
from loadtest.local_cluster import serving

CONTROL = """
import asyncio, json, sys
async def main():
    loop, lags, done = asyncio.get_running_loop(), [], asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), done.set)  # the benchmark closes our stdin when it is done
    while not done.is_set():
        asked = loop.time() + 0.05
        await asyncio.sleep(0.05)
        lags.append(max(0.0, loop.time() - asked))
    print(json.dumps({"samples": len(lags), "over_100ms": sum(x > 0.1 for x in lags), "max_s": max(lags)}))
asyncio.run(main())
"""
GATEWAY = ("  default_max_tokens: 16\n  constrained_reasoning_max_tokens: 16\n  request_timeout_s: 60\n"
           "  shutdown_grace_s: 10\n")
LAG = "oss_cluster_event_loop_lag_seconds"


def lag_summary(before: dict, after: dict) -> dict:
    """From the lag histogram's change over the run: samples, how many above 100 ms, the bucket of the worst."""
    def bucket(snapshot, le):
        return snapshot.get((f"{LAG}_bucket", (("le", le),)), 0.0)

    bounds = sorted({labels[0][1] for (name, labels) in after if name == f"{LAG}_bucket"}, key=float)
    delta = {le: bucket(after, le) - bucket(before, le) for le in bounds}
    total = delta["+Inf"]
    worst = next((le for le in bounds if delta[le] == total), "+Inf")
    return {"samples": int(total), "over_100ms": int(total - delta.get("0.1", 0.0)), "worst_at_most_s": worst,
            "max_since_start_s": after.get(("oss_cluster_event_loop_lag_max_seconds", ()), None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz.json"))
    parser.add_argument("--cache", type=Path, default=None, help="OSS_CLUSTER_CACHE for the tiny model")
    args = parser.parse_args()

    started = time.monotonic()
    http = draw(http_cases.cases(), args.cases - args.cases // 2, args.seed)
    grpc = draw(grpc_cases.cases(), args.cases // 2, args.seed)
    cases = [c for pair in zip(http, grpc) for c in pair] + http[len(grpc):]
    print(f"fuzz: drew {len(http)} HTTP and {len(grpc)} gRPC cases in {time.monotonic() - started:.0f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="fuzz-") as work, serving(Path(work), GATEWAY, cache=args.cache) as local:
        before = local.metrics()
        control = subprocess.Popen([sys.executable, "-c", CONTROL], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        sent = time.monotonic()
        outcomes = asyncio.run(send_all(cases, local.http_url, local.grpc_target, args.concurrency))
        took = time.monotonic() - sent
        after = local.metrics()
        control_lag = json.loads(control.communicate(timeout=30)[0])
        log = local.log()
    tracebacks = log.count("Traceback")
    if tracebacks or not all(o.ok for o in outcomes):  # keep the gateway's side of what went wrong
        args.out.with_suffix(".serve.log").write_text(log)

    counts = collections.Counter(f"{o.api} {o.status}" for o in outcomes)
    problems = [{"case": repr(case)[:600], "api": o.api, "target": o.target, "status": o.status,
                 "problem": o.problem} for case, o in zip(cases, outcomes) if not o.ok]
    seconds = sorted(o.seconds for o in outcomes)
    render = {f"{dict(labels)['where']} {dict(labels)['outcome']}": value - before.get((name, labels), 0.0)
              for (name, labels), value in after.items() if name == "oss_cluster_render_jobs_total"}
    result = {
        "benchmark": "fuzz", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0]},
        "config": {"cases": len(cases), "seed": args.seed, "concurrency": args.concurrency, "gateway": GATEWAY},
        "sent_in_s": round(took, 1), "outcomes": dict(sorted(counts.items())),
        "problems": len(problems), "hangs": sum(o.problem == "hang" for o in outcomes),
        "internal": sum(o.status in ("500", "INTERNAL", "UNKNOWN") for o in outcomes),
        "tracebacks_in_gateway_log": tracebacks,
        "seconds_per_case": {"median": round(statistics.median(seconds), 4), "max": round(seconds[-1], 2)},
        "event_loop_lag": lag_summary(before, after), "control_loop_lag": control_lag, "render_jobs": render,
        "problem_cases": problems[:50],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"fuzz: {len(cases)} cases in {took:.0f} s, {args.concurrency} at a time")
    for key, n in sorted(counts.items()):
        print(f"  {key:<28} {n:>6}")
    lag = result["event_loop_lag"]
    print(f"problems {len(problems)} (hangs {result['hangs']}, 500/INTERNAL/UNKNOWN {result['internal']}); "
          f"tracebacks in the gateway log {tracebacks}")
    print(f"event-loop lag: {lag['samples']} samples, {lag['over_100ms']} over 100 ms, worst ≤ "
          f"{lag['worst_at_most_s']} s, longest since start {lag['max_since_start_s']:.4f} s")
    print(f"control loop (an idle process on the same machine): {control_lag['samples']} samples, "
          f"{control_lag['over_100ms']} over 100 ms, longest {control_lag['max_s']:.4f} s")
    for p in problems[:10]:
        print(f"  PROBLEM {p['api']} {p['target']} {p['status']}: {p['problem'][:200]}")
    print(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
