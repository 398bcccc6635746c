"""Benchmark: autoscaling 1..2 replicas against fixed 1 and fixed 2, under bursts of load.

Each sizing gets a fresh `oss-cluster serve` of tiny CPU replicas on loopback (started and stopped
here) and the same seeded bursty workload (`oss-cluster bench --pattern burst`: an open loop at
--rate while on, nothing while off). While it runs, the ready and desired replica counts are read
from the cluster's metrics every second. Reports, per sizing:
- time to scale up: from the first burst's start to a second ready replica (autoscaling only);
- seconds of SLO violation: one-second bins (by request start) whose TTFT p90 exceeds --slo-ttft,
  or that hold a failed request;
- replica-seconds: ready replicas integrated over the run;
and the ratios against fixed 1 and fixed 2. Prints a table, writes JSON. From the repository root
(about 4 minutes per sizing on 2 cores):

    .venv/bin/python benchmarks/autoscaling.py --out benchmarks/results/autoscaling.json
"""

import argparse
import datetime
import json
import math
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadtest.local_cluster import serving

SIZINGS = {
    "autoscaling 1..2": "autoscaling:\n  policy: queue-depth\n  min_replicas: 1\n  max_replicas: 2\n"
                        "  period_s: 2\n  window_s: 10\n  scale_up_cooldown_s: 10\n  scale_down_cooldown_s: {down}\n"
                        "  params:\n    target: {target}\n",
    "fixed 1": "replicas: 1\n",
    "fixed 2": "replicas: 2\n",
}
LIFECYCLE = "lifecycle:\n  health_period_s: 0.5\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rate", type=float, default=1.5, help="requests per second while a burst is on")
    p.add_argument("--burst-on", type=float, default=50.0)
    p.add_argument("--burst-off", type=float, default=40.0)
    p.add_argument("--duration", type=float, default=180.0, help="seconds of load per sizing")
    p.add_argument("--output-tokens", type=int, default=32)
    p.add_argument("--slo-ttft", type=float, default=2.0, help="seconds")
    p.add_argument("--target", type=float, default=3.0, help="queue-depth target: requests per replica")
    p.add_argument("--scale-down-cooldown", type=float, default=120.0,
                   help="longer than a replica takes to start under load, or it is removed before it serves")
    args = p.parse_args()
    rows = {}
    for name, yaml in SIZINGS.items():
        yaml = yaml.format(down=args.scale_down_cooldown, target=args.target)
        print(f"{name}: starting", flush=True)
        rows[name] = run_sizing(name, yaml + LIFECYCLE, args)
        print(f"{name}: {json.dumps(rows[name]['figures'])}", flush=True)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "machine": platform.node(),
              "args": {k: str(v) for k, v in vars(args).items()}, "sizings": rows, "ratios": ratios(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(render(report))
    return 0


def run_sizing(name: str, yaml: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="oss-autoscaling-") as tmp, \
            serving(Path(tmp), "  default_max_tokens: 64\n", yaml) as local:
        wanted = 2 if name == "fixed 2" else 1
        wait_ready(local.metrics_url, wanted, 300)
        samples: list[tuple[float, float, float]] = []
        stop = threading.Event()
        began = time.monotonic()
        sampler = threading.Thread(target=sample, args=(local.metrics_url, began, samples, stop), daemon=True)
        sampler.start()
        out = Path(tmp) / "bench"
        # The raw path, as in the recorded runs: it measures sizing, and needs no model that writes Harmony.
        subprocess.run([sys.executable, "-m", "cluster.cli", "bench", "--target", local.grpc_target,
                        "--endpoint", "completions", "--pattern", "burst", "--rate", str(args.rate),
                        "--burst-on", str(args.burst_on), "--burst-off", str(args.burst_off),
                        "--duration", str(args.duration), "--max-requests", "5000",
                        "--output-tokens", f"fixed:{args.output_tokens}", "--prompt-tokens", "fixed:128",
                        "--slo-ttft", str(args.slo_ttft), "--timeout", "120", "--out", str(out)],
                       check=True, capture_output=True)  # its progress bar would drown the figures
        stop.set()
        sampler.join(10)
        requests = json.loads((out / "results.json").read_text())["requests"]
    return {"samples": samples, "figures": figures(requests, samples, args)}


def wait_ready(metrics_url: str, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while scrape(metrics_url).get(("oss_cluster_replicas", "ready"), 0) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} replica(s) not ready in {timeout_s:.0f} s")
        time.sleep(1)


def sample(metrics_url: str, began: float, samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        m = scrape(metrics_url)
        samples.append((time.monotonic() - began, m.get(("oss_cluster_replicas", "ready"), 0.0),
                        m.get(("oss_cluster_replicas_desired", ""), 0.0)))
        stop.wait(1.0)


def scrape(metrics_url: str) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    return {(s.name, s.labels.get("state", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def figures(requests: list[dict], samples: list, args) -> dict:
    bins: dict[int, list] = {}
    for r in requests:
        bins.setdefault(int(r["started_s"]), []).append(r)
    violated = sum(1 for rs in bins.values() if any(r["error"] for r in rs) or p90(rs) > args.slo_ttft)
    replica_seconds = sum((b[0] - a[0]) * a[1] for a, b in zip(samples, samples[1:]))
    started_with_one = bool(samples) and samples[0][1] < 2
    scaled = next((t for t, ready, _ in samples if ready >= 2), None) if started_with_one else None
    ttfts = sorted(r["ttft_s"] for r in requests if r["ttft_s"] is not None)
    return {"requests": len(requests), "failed": sum(1 for r in requests if r["error"]),
            "ttft_p50_s": percentile(ttfts, 0.5), "ttft_p90_s": percentile(ttfts, 0.9),
            "slo_violation_s": violated, "replica_seconds": round(replica_seconds, 1),
            "time_to_scale_up_s": None if scaled is None else round(scaled, 1)}


def p90(rs: list[dict]) -> float:
    ttfts = sorted(r["ttft_s"] if r["ttft_s"] is not None else math.inf for r in rs)
    return percentile(ttfts, 0.9)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(q * len(values)))]


def ratios(rows: dict) -> dict:
    auto = rows["autoscaling 1..2"]["figures"]
    return {f"autoscaling / {base}": {k: round(auto[k] / rows[base]["figures"][k], 3)
                                      for k in ("slo_violation_s", "replica_seconds", "ttft_p90_s")
                                      if rows[base]["figures"][k]}
            for base in ("fixed 1", "fixed 2")}


def render(report: dict) -> str:
    keys = ("requests", "failed", "ttft_p50_s", "ttft_p90_s", "slo_violation_s", "replica_seconds",
            "time_to_scale_up_s")
    lines = ["sizing            " + "  ".join(f"{k:>18}" for k in keys)]
    for name, row in report["sizings"].items():
        f = row["figures"]
        lines.append(f"{name:<18}" + "  ".join(f"{'-' if f[k] is None else round(f[k], 2):>18}" for k in keys))
    for name, r in report["ratios"].items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
