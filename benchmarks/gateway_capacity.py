"""Benchmark: what one gateway process carries, with stand-in engines, and the latency it adds.

It starts `oss-cluster serve` with `--replicas` stand-in replicas (`engine.kind: simulated`) that
write a trace of their own times (`engine.simulated.trace_file`), and drives the gRPC `Generate`
API with token-id prompts from this process. Each request's seed is its number, which joins the
client's times with the engine's: the latency the stack adds is the client's time to first token
less the engine's (first token less arrival), split into the way in (sent → the engine has it) and
the way out (the engine's first token → the client has it). Both clocks are `time.monotonic()`.

Two experiments:
- streams: closed loops of N concurrent streams (default 250, 500, 1000) of `--stream-tokens`
  tokens each, on engines with the H100 calibration slowed by `--time-scale` so that the
  machine can carry the tokens: whether all N run at once, and the added latency;
- arrivals: open loops of new requests per second (default 100, 250, 500), each a short request
  (4 output tokens) on `instant` engines: the rate sustained and the added latency.
Also the gateway process's CPU and its event loop's worst lag. Run from the repository root,
alone on the machine:

    .venv/bin/python benchmarks/gateway_capacity.py --out benchmarks/results/gateway_capacity.json

`--profile` also records the gateway and one replica actor with py-spy while the load runs and
prints where their CPU goes (`benchmarks/profile_front.py`'s summary, raw stacks beside the JSON).
"""

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import grpc
import psutil

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.cli import cache_dir
from loadtest.local_cluster import serving
from loadtest.stats import percentile

sys.path.insert(0, str(Path(__file__).parent))
from profile_front import record, shares  # noqa: E402
from results_file import write_results  # noqa: E402


def cluster_yaml(replicas: int, calibration: str, time_scale: float, trace: Path) -> str:
    return (f"replicas: {replicas}\nengine:\n  kind: simulated\n  max_num_seqs: 1024\n  max_model_len: 8192\n"
            f"  simulated:\n    calibration: {calibration}\n    time_scale: {time_scale}\n"
            f"    trace_file: {trace}\n    start_s: 0\n"
            "admission:\n  max_in_flight_per_replica: 1024\n  max_queue: 4096\n")


async def one(stub, seed: int, prompt: list[int], max_tokens: int, records: dict) -> None:
    sent, first, tokens, error = time.monotonic(), None, 0, None
    request = pb.GenerateRequest(token_ids=pb.TokenIds(ids=prompt),
                                 sampling=pb.Sampling(max_tokens=max_tokens, seed=seed, ignore_eos=True))
    try:
        async for event in stub.Generate(request, timeout=300):
            if event.HasField("tokens"):
                if first is None:
                    first = time.monotonic()
                tokens += len(event.tokens.token_ids)
    except grpc.aio.AioRpcError as exc:
        error = exc.code().name
    records[seed] = {"sent": sent, "first": first, "ended": time.monotonic(), "tokens": tokens, "error": error}


def prompt_for(seed: int, length: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1000, 190_000) for _ in range(length)]


async def streams(target: str, concurrency: int, tokens: int, seed0: int, records: dict) -> float:
    """`concurrency` streams at once, each started as the one before it ends, twice over."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.InferenceStub(channel)
        seeds = iter(range(seed0, seed0 + 2 * concurrency))

        async def loop():
            for seed in seeds:
                await one(stub, seed, prompt_for(seed, 64), tokens, records)

        began = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return time.monotonic() - began


async def arrivals(target: str, rate: float, seconds: float, seed0: int, records: dict) -> float:
    """Poisson arrivals at `rate` per second for `seconds`; each request a short one."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.InferenceStub(channel)
        rng, tasks, began = random.Random(seed0), [], time.monotonic()
        at, seed = began, seed0
        while at - began < seconds:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.ensure_future(one(stub, seed, prompt_for(seed, 32), 4, records)))
            seed += 1
            at += rng.expovariate(rate)
        sending = time.monotonic() - began
        await asyncio.gather(*tasks)
        return sending


def added(records: dict, trace: dict) -> dict:
    """The stack's latency around the engine's, per request joined by seed (milliseconds)."""
    inbound, outbound, total = [], [], []
    for seed, r in records.items():
        t = trace.get(seed)
        if r["error"] or r["first"] is None or t is None or t["first_token"] is None:
            continue
        inbound.append((t["arrival"] - r["sent"]) * 1000)
        outbound.append((r["first"] - t["first_token"]) * 1000)
        total.append(((r["first"] - r["sent"]) - (t["first_token"] - t["arrival"])) * 1000)

    def dist(values):
        return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values, default=None)}

    return {"joined": len(total), "ttft_added_ms": dist(total), "way_in_ms": dist(inbound),
            "way_out_ms": dist(outbound)}


def read_trace(path: Path) -> dict:
    if not path.exists():
        return {}
    lines = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {x["seed"]: x for x in lines if x["seed"] is not None}


def lag_max(local) -> float:
    return local.metrics().get(("oss_cluster_event_loop_lag_max_seconds", ()), 0.0)


def pin(gateway: psutil.Process) -> set[int]:
    """The gateway's threads on the last core, everything else (this client, the replica actors,
    Ray) on the others: the gateway measured as on a pod of its own. Returns the client's old set."""
    cpus = sorted(os.sched_getaffinity(0))
    mine, rest = {cpus[-1]}, set(cpus[:-1]) or {cpus[-1]}
    for process, cores in [(gateway, mine), *((p, rest) for p in gateway.children(recursive=True)),
                           (psutil.Process(), rest)]:
        for thread in process.threads():
            try:
                os.sched_setaffinity(thread.id, cores)
            except (ProcessLookupError, PermissionError):
                pass  # a thread that ended meanwhile
    return set(cpus)


def experiment(kind: str, level: float, args, cache: Path, seed0: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"oss-capacity-{kind}-"))
    trace = work / "trace.jsonl"
    calibration, scale = ("h100-gpt-oss-120b", args.time_scale) if kind == "streams" else ("instant", 1.0)
    with serving(work, gateway_yaml="  default_max_tokens: 64\n",
                 extra_yaml=cluster_yaml(args.replicas, calibration, scale, trace), cache=cache,
                 start_timeout_s=600) as local:
        while local.metrics().get(("oss_cluster_replicas_ready", ()), 0) < args.replicas:
            time.sleep(1)
        asyncio.run(arrivals(local.grpc_target, 20, 1.0, 10_000_000, {}))  # warm-up: channels to each replica
        gateway = psutil.Process(local.process.pid)
        everywhere = pin(gateway) if args.pin else None
        recorders = {}
        if args.profile:
            actor = next(p for p in gateway.children(recursive=True) if "ReplicaActor" in " ".join(p.cmdline()))
            seconds = int(args.seconds) if kind == "arrivals" else 20
            recorders = {name: record(pid, seconds, work / f"{name}.txt")
                         for name, pid in {"gateway": gateway.pid, "actor": actor.pid}.items()}
        cpu0, records = gateway.cpu_times(), {}
        if kind == "streams":
            wall = asyncio.run(streams(local.grpc_target, int(level), args.stream_tokens, seed0, records))
        else:
            wall = asyncio.run(arrivals(local.grpc_target, level, args.seconds, seed0, records))
        cpu1 = gateway.cpu_times()
        lag = lag_max(local)
        for recorder in recorders.values():
            recorder.wait(120)
        if everywhere:
            for thread in psutil.Process().threads():
                os.sched_setaffinity(thread.id, everywhere)
        time.sleep(1)
    done = [r for r in records.values() if not r["error"]]
    errors: dict[str, int] = {}
    for r in records.values():
        if r["error"]:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    row = {"experiment": kind, "level": level, "requests": len(records), "completed": len(done), "errors": errors,
           "wall_s": round(wall, 2), "gateway_cpu_percent": round(100 * (cpu1.user + cpu1.system - cpu0.user
                                                                          - cpu0.system) / wall, 1),
           "event_loop_lag_max_ms": round(lag * 1000, 1), **added(records, read_trace(trace))}
    if recorders:
        row["profile"] = {name: shares(work / f"{name}.txt", 20) for name in recorders}
        for name, figures in row["profile"].items():
            print(f"{kind} {level:g}, {name}: {figures['samples']} samples; "
                  + ", ".join(f"{p} {x:.0%}" for p, x in figures["inclusive_by_package"]))
            for function, x in figures["self"]:
                print(f"  {x:6.1%}  {function}")
    if kind == "streams":
        ends = sorted((r["sent"], r["ended"]) for r in done)
        row["peak_concurrent"] = max(sum(1 for s, e in ends if s <= t < e) for t, _ in ends) if ends else 0
        row["output_tokens_per_s"] = round(sum(r["tokens"] for r in done) / wall, 1)
    else:
        row["sustained_per_s"] = round(len(done) / max(wall, 1e-9), 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--streams", type=int, nargs="*", default=[250, 500, 1000])
    parser.add_argument("--stream-tokens", type=int, default=64, help="output tokens of each stream")
    parser.add_argument("--time-scale", type=float, default=40.0, help="the H100 stand-ins' slow-down for streams")
    parser.add_argument("--rates", type=float, nargs="*", default=[100, 250, 500], help="new requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="of arrivals at each rate")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gateway_capacity.json"))
    parser.add_argument("--profile", action="store_true", help="record the gateway and one actor with py-spy")
    parser.add_argument("--pin", action="store_true", help="the gateway alone on the last core, all else on the others")
    args = parser.parse_args()
    cache = cache_dir()
    rows = []
    for i, (kind, level) in enumerate([("streams", n) for n in args.streams] + [("arrivals", r) for r in args.rates]):
        row = experiment(kind, level, args, cache, seed0=(i + 1) * 1_000_000)
        rows.append(row)
        t = row["ttft_added_ms"]
        what = (f"peak {row['peak_concurrent']} streams, {row['output_tokens_per_s']} tok/s" if kind == "streams"
                else f"{row['sustained_per_s']} req/s sustained")
        print(f"{kind} {level:g}: {row['completed']}/{row['requests']} done, {what}; added TTFT p50 "
              f"{t['p50'] or 0:.1f} ms, p99 {t['p99'] or 0:.1f} ms (way in p99 {row['way_in_ms']['p99'] or 0:.1f}, "
              f"out p99 {row['way_out_ms']['p99'] or 0:.1f}); gateway {row['gateway_cpu_percent']} % CPU, "
              f"loop lag max {row['event_loop_lag_max_ms']} ms; errors {row['errors'] or 'none'}", flush=True)
    write_results(args, "gateway_capacity", machine={"cpus": os.cpu_count()}, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
