"""Profile: where the gateway and the replica actor spend CPU under load (py-spy, sampling).

Starts `oss-cluster serve` on the embedded default, drives it with the benchmark's own client over
HTTP or gRPC, records both processes with py-spy for the load window, and prints each one's share
of samples by function (self time) and by module (inclusive, top frames of this project, vLLM,
Ray, asyncio...). Writes the collapsed stacks and a JSON summary. Run from the repository root:

    .venv/bin/python benchmarks/profile_front.py --out benchmarks/results/profile_front.json
"""

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil

from cluster.cli import cache_dir

sys.path.insert(0, str(Path(__file__).parent))
from api_overhead import own_round, start_ours  # noqa: E402
from results_file import write_results  # noqa: E402


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--duration", str(seconds),
               "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking", "--gil", "--full-filenames"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(collapsed: Path, top: int) -> dict:
    """Self time by function, and inclusive time by package, as shares of the samples (taken only while
    a thread of the process holds the GIL: Python at work, not waiting)."""
    by_function, by_package, total = collections.Counter(), collections.Counter(), 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        by_function[_short(frames[-1])] += n
        for package in {_package(f) for f in frames}:
            by_package[package] += n
    return {"samples": total,
            "self": [(name, round(n / total, 3)) for name, n in by_function.most_common(top)],
            "inclusive_by_package": [(name, round(n / total, 3)) for name, n in by_package.most_common(top)]}


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.split(":")[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})"


def _package(frame: str) -> str:
    path = frame.partition(" (")[2]
    for mark in ("/cluster/", "/vllm/", "/ray/", "/asyncio/", "/grpc/", "/uvicorn/", "/starlette/", "/msgspec/",
                 "/openai_harmony/", "/prometheus_client/", "/torch/"):
        if mark in path:
            return mark.strip("/")
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["ours-http", "ours-grpc"], default="ours-http")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/profile_front.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oss-profile-"))
    cache = cache_dir()
    proc, grpc_address, http_base = start_ours(work, cache)
    try:
        address = http_base if args.target == "ours-http" else grpc_address
        asyncio.run(own_round(args.target, address, 4, 4, 8))  # warm-up
        actor = next(p for p in psutil.Process(proc.pid).children(recursive=True)
                     if "ReplicaActor" in " ".join(p.cmdline()))
        pids = {"gateway": proc.pid, "actor": actor.pid}
        # enough requests to outlast the recording (about 1.3 a second on 2 cores), and no more
        requests = args.concurrency + 2 * args.seconds
        load = threading.Thread(target=lambda: asyncio.run(
            own_round(args.target, address, requests, args.concurrency, 64)), daemon=True)
        load.start()
        recorders = {name: record(pid, args.seconds, work / f"{name}.txt") for name, pid in pids.items()}
        for recorder in recorders.values():
            recorder.wait(args.seconds + 60)
        load.join(600)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    result = {name: shares(work / f"{name}.txt", args.top) for name in pids}
    for name, figures in result.items():
        print(f"\n{name}: {figures['samples']} samples")
        print("  by package (inclusive): " + ", ".join(f"{p} {s:.0%}" for p, s in figures["inclusive_by_package"]))
        for function, share in figures["self"]:
            print(f"  {share:6.1%}  {function}")
    write_results(args, "profile_front", profiles=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
