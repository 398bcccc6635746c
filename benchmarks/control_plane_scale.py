"""Benchmark: what the control plane costs as the replica count grows, with stand-in engines.

For each count it starts `oss-cluster serve` with that many stand-in replicas (`engine.kind:
simulated`, calibration `instant`: the engines cost nothing), waits until the gateway routes to all
of them, then measures over a window at rest, from /proc and the gateway's metrics:
- CPU (% of a core) of the serve process (the gateway, and the watch that exports the controller's
  status), the controller actor, all replica actors together, and Ray's GCS and raylet;
- the gateway's refreshes of the ready set and loads (`oss_cluster_replica_refresh_seconds`): how
  long one takes, so how stale a routing decision's loads can be (the 0.5 s period plus that);
- the controller's step (`oss_cluster_controller_step_seconds`), sampled each second;
- the whole tree's RSS, and how long the replicas took to be ready.
Run from the repository root, alone on the machine:

    .venv/bin/python benchmarks/control_plane_scale.py --out benchmarks/results/control_plane_scale.json
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from cluster.cli import cache_dir
from loadtest.local_cluster import serving

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_results  # noqa: E402

ROLES = {"controller": "ray::Controller", "replicas": "ray::ReplicaActor", "gcs": "gcs_server", "raylet": "raylet"}


def stand_in_yaml(replicas: int) -> str:
    return (f"replicas: {replicas}\nengine:\n  kind: simulated\n  max_num_seqs: 64\n"
            "  simulated:\n    calibration: instant\n    start_s: 0\n")


def role_of(p: psutil.Process, serve_pid: int) -> str | None:
    if p.pid == serve_pid:
        return "serve"
    try:
        command = " ".join(p.cmdline())
    except psutil.Error:
        return None
    return next((role for role, mark in ROLES.items() if mark in command), None)


def cpu_by_role(serve_pid: int) -> dict[str, float]:
    serve = psutil.Process(serve_pid)
    totals: dict[str, float] = {}
    for p in [serve, *serve.children(recursive=True)]:
        role = role_of(p, serve_pid)
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        if role:
            totals[role] = totals.get(role, 0.0) + t.user + t.system
    return totals


def rss_mib(serve_pid: int) -> float:
    serve = psutil.Process(serve_pid)
    total = 0
    for p in [serve, *serve.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def histogram(samples: dict, name: str) -> dict[float, float]:
    """Cumulative bucket counts of a histogram with no labels but `le`."""
    return {float(dict(labels)["le"]): v for (n, labels), v in samples.items() if n == f"{name}_bucket"}


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of the observations between two scrapes, from the buckets (upper bound of its bucket)."""
    counts = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = counts[-1][1] if counts else 0
    if not total:
        return None
    return next(le for le, c in counts if c >= q * total)


def measure(replicas: int, window_s: float, cache: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"oss-scale-{replicas}-"))
    with serving(work, extra_yaml=stand_in_yaml(replicas), cache=cache, start_timeout_s=600) as local:
        began = time.monotonic()
        while local.metrics().get(("oss_cluster_replicas_ready", ()), 0) < replicas:
            if time.monotonic() - began > 900:
                raise TimeoutError(f"{replicas} replicas not all ready in 900 s; see {local.log_path}")
            time.sleep(1)
        ready_s = time.monotonic() - began
        time.sleep(5)  # past the start's bursts
        pid = local.process.pid
        cpu0, scrape0, t0 = cpu_by_role(pid), local.metrics(), time.monotonic()
        steps = []
        while time.monotonic() - t0 < window_s:
            time.sleep(1)
            steps.append(local.metrics().get(("oss_cluster_controller_step_seconds", ()), 0.0))
        cpu1, scrape1, t1 = cpu_by_role(pid), local.metrics(), time.monotonic()
        name = "oss_cluster_replica_refresh_seconds"
        refreshes = scrape1[(f"{name}_count", ())] - scrape0[(f"{name}_count", ())]
        refresh_mean = (scrape1[(f"{name}_sum", ())] - scrape0[(f"{name}_sum", ())]) / max(1, refreshes)
        b0, b1 = histogram(scrape0, name), histogram(scrape1, name)
        return {
            "replicas": replicas, "ready_after_s": round(ready_s, 1), "window_s": round(t1 - t0, 1),
            "cpu_percent": {role: round(100 * (cpu1.get(role, 0) - cpu0.get(role, 0)) / (t1 - t0), 2)
                            for role in ("serve", *ROLES)},
            "refreshes_per_s": round(refreshes / (t1 - t0), 2), "refresh_mean_ms": round(refresh_mean * 1000, 2),
            "refresh_p99_ms_at_most": (quantile(b0, b1, 0.99) or 0) * 1000,
            "controller_step_ms": {"median": round(statistics.median(steps) * 1000, 2),
                                   "max": round(max(steps) * 1000, 2)},
            "rss_mib": round(rss_mib(pid)),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured at rest per count")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/control_plane_scale.json"))
    args = parser.parse_args()
    cache = cache_dir()
    rows = []
    print(f"{'replicas':>8} {'ready s':>7} {'serve %':>7} {'ctrl %':>6} {'actors %':>8} {'gcs %':>5} "
          f"{'raylet %':>8} {'refresh ms':>10} {'p99 ≤':>6} {'step ms':>7} {'RSS MiB':>7}")
    for n in args.replicas:
        r = measure(n, args.window, cache)
        rows.append(r)
        c = r["cpu_percent"]
        print(f"{n:>8} {r['ready_after_s']:>7.1f} {c['serve']:>7.2f} {c['controller']:>6.2f} {c['replicas']:>8.2f} "
              f"{c['gcs']:>5.2f} {c['raylet']:>8.2f} {r['refresh_mean_ms']:>10.2f} {r['refresh_p99_ms_at_most']:>6.0f} "
              f"{r['controller_step_ms']['median']:>7.2f} {r['rss_mib']:>7}", flush=True)
    write_results(args, "control_plane_scale", machine={"cpus": os.cpu_count()}, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
