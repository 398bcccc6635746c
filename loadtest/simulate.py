"""`oss-cluster simulate`: a cluster.yaml run on this machine with stand-in engines under a load-test
workload, to predict its throughput, latencies and replica counts (docs/capacity.md).

The plan is the user's (replicas, engine limits, admission, routing, autoscaling); only the engines
are replaced by stand-ins with a calibration, the gateway listens on loopback, and no checkpoint,
GPU, tenants file or TLS is needed. With `--time-scale s` every engine step takes s times its
calibrated time, so that a cluster of fast GPUs produces tokens at a rate this machine's gateway
can carry; everything else time-based is stretched alike (the workload's rates and durations, the
SLOs, the autoscaler's periods and cooldowns, deadlines) and the figures are scaled back before
they are printed. What the prediction leaves out is in docs/scale.md.
"""

import argparse
import copy
import dataclasses
import json
import threading
import time
from pathlib import Path

import yaml

from cluster.config import load_config
from loadtest.local_cluster import serving

AUTOSCALING_TIMES = ("period_s", "window_s", "scale_up_cooldown_s", "scale_down_cooldown_s")
WORKLOAD_TIMES = ("duration", "burst_on", "burst_off", "slo_ttft", "slo_itl", "timeout")
# where the gateway listens and whom it lets in: the simulation listens on loopback, open
GATEWAY_DROPPED = ("host", "grpc_port", "http_port", "metrics_port", "admin_host", "tenants_file", "audit_log",
                   "tls_cert_file", "tls_key_file", "tls_client_ca_file")


def stand_in_plan(config_file: Path, calibration: str, time_scale: float) -> tuple[str, str]:
    """The YAML `serve` runs, as (lines under `gateway:`, the rest): the file's plan with stand-in
    engines, stretched by `time_scale`; `serving` adds loopback ports. Every field is written out,
    so the checkpoint's defaults hold though no checkpoint is named."""
    config = load_config(config_file)  # validates the file
    raw = copy.deepcopy(yaml.safe_load(config_file.read_text()) or {})
    for name in ("gateway", "controller", "ray_address"):
        raw.pop(name, None)
    raw["model"] = {"name": config.served_model_name}  # no checkpoint: the stand-in computes nothing
    raw["device"] = config.device
    raw["engine"] = {**dataclasses.asdict(config.engine), "kind": "simulated",
                     "simulated": {**dataclasses.asdict(config.engine.simulated), "calibration": calibration,
                                   "time_scale": time_scale}}
    raw["engine"].pop("kv_cache_memory_bytes")
    raw["autoscaling"] = dataclasses.asdict(config.autoscaling) | {
        name: getattr(config.autoscaling, name) * time_scale for name in AUTOSCALING_TIMES}
    raw["admission"] = dataclasses.asdict(config.admission) | {
        "max_queue_wait_s": config.admission.max_queue_wait_s * time_scale}
    gateway = {k: v for k, v in dataclasses.asdict(config.gateway).items() if k not in GATEWAY_DROPPED}
    gateway["request_timeout_s"] = config.gateway.request_timeout_s * time_scale
    gateway_yaml = "".join(f"  {line}\n" for line in yaml.safe_dump(gateway, sort_keys=False).splitlines())
    return gateway_yaml, yaml.safe_dump(raw, sort_keys=False)


def stretched_workload(args: argparse.Namespace, time_scale: float) -> argparse.Namespace:
    """The load-test arguments at the stretched clock: rates divided, durations multiplied."""
    out = copy.copy(args)
    for name in WORKLOAD_TIMES:
        setattr(out, name, getattr(args, name) * time_scale)
    out.rate = args.rate / time_scale
    out.sweep_rates = ",".join(f"{float(r) / time_scale:g}" for r in args.sweep_rates.split(",") if r.strip())
    return out


def scaled_back(summary: dict, time_scale: float) -> dict:
    """A load-test summary at the stretched clock, in the simulated cluster's time."""
    s = copy.deepcopy(summary)
    s["wall_s"] /= time_scale
    for name in ("requests_per_s", "output_tokens_per_s", "goodput_requests_per_s"):
        s[name] *= time_scale
    for name in ("ttft_s", "inter_token_s", "e2e_s"):
        s[name] = {k: (v / time_scale if v is not None and k != "count" else v) for k, v in s[name].items()}
    s["slo"] = {k: v / time_scale for k, v in s["slo"].items()}
    return s


class ReplicaSampler:
    """Samples the gateway's count of ready replicas and the controller's desired count each second."""

    def __init__(self, local, period_s: float = 1.0):
        self._local, self._period_s = local, period_s
        self._taken: list[tuple[float, float, float]] = []  # (time.monotonic(), ready, desired)
        self.origin: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def mark_start(self) -> None:
        """The workload's time zero is now (planning its requests may take a while before it)."""
        self.origin = time.monotonic()

    @property
    def samples(self) -> list[tuple[float, float, float]]:
        """(seconds since the workload's time zero, ready, desired)."""
        taken = list(self._taken)
        return since(taken, self.origin if self.origin is not None else (taken[0][0] if taken else 0.0))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                m = self._local.metrics()
                ready = m.get(("oss_cluster_replicas_ready", ()), 0.0)
                desired = m.get(("oss_cluster_replicas_desired", ()), 0.0)
                self._taken.append((time.monotonic(), ready, desired))
            except OSError:
                pass
            self._stop.wait(self._period_s)


def since(taken: list[tuple[float, float, float]], origin: float) -> list[tuple[float, float, float]]:
    """Samples (time, ready, desired) counted from `origin`: the last one before it stands at zero,
    earlier ones are dropped."""
    before = [s for s in taken if s[0] <= origin][-1:]
    return [(0.0, ready, desired) for _, ready, desired in before] + \
           [(t - origin, ready, desired) for t, ready, desired in taken if t > origin]


def write_png(path: Path, requests: list[dict], replicas: list[tuple[float, float, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    ok = [r for r in requests if r["error"] is None and r["ttft_s"] is not None]
    left.scatter([r["started_s"] for r in ok], [r["ttft_s"] * 1000 for r in ok], s=6)
    left.set(xlabel="seconds since start", ylabel="time to first token (ms)", title="predicted TTFT")
    if replicas:
        t, ready, desired = zip(*replicas)
        right.step(t, ready, where="post", label="ready")
        right.step(t, desired, where="post", label="desired", linestyle="--")
        right.legend()
    right.set(xlabel="seconds since start", ylabel="replicas", title="replica count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def simulate(args: argparse.Namespace) -> int:
    from loadtest.cli import bench
    from loadtest.report import table

    scale = args.time_scale
    work = args.out / "cluster"
    work.mkdir(parents=True, exist_ok=True)
    gateway_yaml, plan = stand_in_plan(Path(args.config), args.calibration, scale)
    stretched = stretched_workload(args, scale)
    stretched.out = args.out / "stretched"
    stretched.model = load_config(Path(args.config)).served_model_name
    print(f"simulating {args.config} with stand-in engines ({args.calibration}, time scale {scale:g}); "
          f"the stack's logs are in {work}", flush=True)
    with serving(work, gateway_yaml=gateway_yaml, extra_yaml=plan, start_timeout_s=600) as local:
        stretched.target = local.grpc_target if args.api == "grpc" else local.http_url
        with ReplicaSampler(local) as sampler:
            stretched.started = sampler.mark_start  # the replica counts' time zero is the requests'
            code = bench(stretched)
    results = json.loads((stretched.out / "results.json").read_text())
    summary = scaled_back(results["summary"], scale)
    requests = [{**r, "started_s": r["started_s"] / scale, "ttft_s": r["ttft_s"] / scale if r["ttft_s"] else None,
                 "e2e_s": r["e2e_s"] / scale, "inter_token_s": [t / scale for t in r["inter_token_s"]]}
                for r in results["requests"]]
    replicas = [(t / scale, ready, desired) for t, ready, desired in sampler.samples]
    counts = [ready for _, ready, _ in replicas] or [0.0]
    replica_figures = {"min": min(counts), "max": max(counts), "mean": sum(counts) / len(counts),
                       "replica_seconds": sum(a[1] * (b[0] - a[0]) for a, b in zip(replicas, replicas[1:]))}
    (args.out / "simulation.json").write_text(json.dumps({
        "config_file": str(args.config), "calibration": args.calibration, "time_scale": scale,
        "summary": summary, "replicas": replica_figures, "replica_samples": replicas, "requests": requests},
        indent=2))
    write_png(args.out / "simulation.png", requests, replicas)
    print(f"\npredicted for {args.config} ({args.calibration} engines):")
    print(table(summary))
    print(f"ready replicas: min {replica_figures['min']:.0f}, mean {replica_figures['mean']:.1f}, "
          f"max {replica_figures['max']:.0f}; {replica_figures['replica_seconds']:.0f} replica-seconds")
    print(f"wrote {args.out / 'simulation.json'} and {args.out / 'simulation.png'}")
    return code
