"""Benchmark: the default routing profile against round-robin, on a shared-prefix multi-turn workload.

Each profile gets a fresh cluster of 2 tiny CPU replicas (`oss-cluster serve` on loopback, started
here and stopped here) and the same seeded workload: sessions that share a few long system prompts,
each a conversation of several turns sent over gRPC `Chat` with its `session_id` (the system prompt
as developer instructions, the earlier user turns and the answers the stream returned, then the new
user turn), a bounded number of sessions at once. Time to first token is the time to the first
visible delta; output tokens are the server's count. Engine prefix-cache counters are scraped from
the gateway's metrics before and after. Prints a table and the ratios default / round-robin; writes
JSON. Run from the repository root (about 3 minutes of cluster start-up per profile and round, plus
the workload):

    .venv/bin/python benchmarks/routing.py --out benchmarks/results/routing.json

A quick check: add `--sessions 2 --turns 2 --system-tokens 300 --max-duration 60`.

At scale, with stand-in engines calibrated on an H100 running gpt-oss-120b (docs/scale.md):
`--replicas 16 --stand-in h100-gpt-oss-120b --time-scale 10` and a workload large enough to
contend for their KV caches (see docs/scale.md for the one measured).
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from cluster._proto.cluster.v1 import inference_pb2 as pb
from cluster._proto.cluster.v1 import inference_pb2_grpc as pb_grpc
from cluster.chat_client import REASONING_EFFORTS
from cluster.cli import cache_dir
from loadtest.clients import Reply, Timer, read_chat
from loadtest.local_cluster import free_port, stop_serve
from loadtest.workload import WORDS

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_results  # noqa: E402

PROFILES = {  # run in this order; the default profile is what `router:` left out gives
    "round-robin": "router:\n  filters: []\n  scorers: {}\n  picker: round-robin\n",
    "default": "",
}
QUERIED, HITS = "oss_cluster_replica_prefix_cache_queried_tokens", "oss_cluster_replica_prefix_cache_hit_tokens"
ROUTED, READY = "oss_cluster_routed_requests_total", "oss_cluster_replicas_ready"


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def plan(args) -> list[dict]:
    """The sessions: a fixed system prompt (session i gets prompt i % P) and one user message per turn."""
    rng = random.Random(args.seed)
    systems = [words(rng, args.system_tokens) for _ in range(args.system_prompts)]
    return [{"id": f"session-{i}", "index": i, "system": systems[i % len(systems)],
             "users": [words(rng, args.turn_tokens) for _ in range(args.turns)]} for i in range(args.sessions)]


def chat_messages(system: str, history: list[tuple[str, str]], user: str) -> list[pb.Message]:
    """Developer instructions, the earlier (user, answer) turns, then the new user turn. An empty
    answer (no final text: cut by max_tokens, or not valid Harmony) is left out, as the API refuses
    an assistant message without content."""
    messages = [pb.Message(role=pb.ROLE_DEVELOPER, content=system)]
    for said, answer in history:
        messages.append(pb.Message(role=pb.ROLE_USER, content=said))
        if answer:
            messages.append(pb.Message(role=pb.ROLE_ASSISTANT, content=answer))
    return messages + [pb.Message(role=pb.ROLE_USER, content=user)]


def scrape(url: str) -> dict:
    """Prefix-cache counters summed over replicas, and requests routed to each replica."""
    out = {"queried": 0.0, "hits": 0.0, "routed": {}, "ready": 0.0}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            if s.name == QUERIED:
                out["queried"] += s.value
            elif s.name == HITS:
                out["hits"] += s.value
            elif s.name == ROUTED:
                out["routed"][s.labels["replica"]] = s.value
            elif s.name == READY:
                out["ready"] = s.value
    return out


def engine_yaml(args, trace: Path | None = None) -> str:
    """The replicas' engine: the tiny model on vLLM, or stand-ins with a calibration (writing their
    per-request times to `trace`)."""
    if not args.stand_in:
        return ""
    return (f"engine:\n  kind: simulated\n  max_model_len: 32768\n  max_num_seqs: 256\n"
            f"  max_num_batched_tokens: 8192\n  simulated:\n    calibration: {args.stand_in}\n"
            f"    time_scale: {args.time_scale}\n    reply_tokens: {args.output_tokens}\n    start_s: 0\n"
            + (f"    trace_file: {trace}\n" if trace else "") + "admission:\n  max_in_flight_per_replica: 256\n")


def start_cluster(work: Path, cache: Path, name: str, args) -> tuple[subprocess.Popen, str, str]:
    """Starts `oss-cluster serve` with the profile; returns once all replicas are ready."""
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config = work / f"{name}.yaml"
    config.write_text(f"replicas: {args.replicas}\ngateway:\n  host: 127.0.0.1\n  grpc_port: {grpc_port}\n"
                      f"  http_port: {http_port}\n  metrics_port: {metrics_port}\n" + PROFILES[name]
                      + engine_yaml(args, trace_path(work, name)))
    log = work / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "cluster.cli", "serve", "--config", str(config)],
                            env=dict(os.environ, OSS_CLUSTER_CACHE=str(cache)), stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"oss-cluster serve exited with {proc.returncode}; see {log}")
            try:
                if "ready in" in log.read_text() and scrape(metrics_url)["ready"] >= args.replicas:
                    return proc, f"127.0.0.1:{grpc_port}", metrics_url
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"{args.replicas} replicas not ready in 600 s; see {log}")
    except BaseException:
        stop_cluster(proc)
        raise


def trace_path(work: Path, name: str) -> Path:
    return work / f"{name}.trace.jsonl"


def engine_ttft(work: Path, name: str, records: list[dict]) -> None:
    """Adds to each record the engine's own time to first token (arrival to first token, from the
    stand-ins' trace, joined by seed), so the time the stack and the machine add shows apart."""
    path = trace_path(work, name)
    if not path.exists():
        return
    trace = {}
    for line in path.read_text().splitlines():
        t = json.loads(line)
        if t["first_token"] is not None:
            trace[t["seed"]] = t["first_token"] - t["arrival"]
    for r in records:
        r["engine_ttft_s"] = trace.get(r["seed"])
    path.unlink()  # the next round of this profile writes its own


def stop_cluster(proc: subprocess.Popen) -> None:
    stop_serve(proc, grace_s=90)


async def one_turn(stub, session: dict, turn: int, messages: list[pb.Message], args, run_start: float,
                   timeout: float) -> tuple[dict, str]:
    """One Chat request of the session; returns its record and the answer's content."""
    seed = args.seed * 1_000_003 + session["index"] * 1000 + turn
    request = pb.ChatRequest(messages=messages, session_id=session["id"],
                             reasoning_effort=REASONING_EFFORTS[args.reasoning_effort],
                             sampling=pb.Sampling(max_tokens=args.output_tokens, seed=seed))
    timer, reply, error = Timer(run_start), Reply(), None
    try:
        reply = await read_chat(stub.Chat(request, timeout=timeout), timer)
    except grpc.aio.AioRpcError as exc:
        error = exc.code().name
    result = timer.result(turn, error=error, tokens=reply.completion_tokens, finish_reason=reply.finish_reason)
    return ({"session": session["id"], "turn": turn, "seed": seed,
             "prompt_chars": sum(len(m.content) for m in messages), "ttft_s": result.ttft_s,
             "e2e_s": result.e2e_s, "output_tokens": result.output_tokens, "finish_reason": result.finish_reason,
             "error": result.error}, reply.content)


async def run_workload(address: str, sessions: list[dict], args) -> tuple[list[dict], float]:
    """`concurrency` workers, each running one session's turns in order before taking the next session."""
    pending, records = list(sessions), []
    start = time.perf_counter()
    deadline = start + args.max_duration
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.InferenceStub(channel)

        async def worker():
            while pending:
                session, history = pending.pop(0), []
                for turn, user in enumerate(session["users"]):
                    remaining = deadline - time.perf_counter()
                    if remaining < 1:
                        return
                    messages = chat_messages(session["system"], history, user)
                    record, answer = await one_turn(stub, session, turn, messages, args, start,
                                                    min(args.timeout, remaining))
                    records.append(record)
                    if record["error"]:
                        break  # the conversation cannot go on without its answer
                    history.append((user, answer))

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return records, time.perf_counter() - start


def run_profile(name: str, work: Path, cache: Path, sessions: list[dict], args) -> dict:
    proc, address, metrics_url = start_cluster(work, cache, name, args)
    try:
        before = scrape(metrics_url)
        records, wall = asyncio.run(run_workload(address, sessions, args))
        time.sleep(1.5)  # the gateway refreshes replica gauges every 0.5 s
        after = scrape(metrics_url)
    finally:
        stop_cluster(proc)
    engine_ttft(work, name, records)
    routed = {r: after["routed"].get(r, 0) - before["routed"].get(r, 0) for r in after["routed"]}
    return {"wall_s": wall, "queried_tokens": after["queried"] - before["queried"],
            "hit_tokens": after["hits"] - before["hits"], "routed": routed, "records": records}


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else None


def summarize(rounds: list[dict], scale: float = 1.0) -> dict:
    """Figures of the rounds; times divided by `scale` (a stand-in's time scale: the simulated
    cluster's time, not this machine's)."""
    records = [r for rnd in rounds for r in rnd["records"]]
    ok = [r for r in records if not r["error"]]
    ms = 1000 / scale
    ttft = np.array([r["ttft_s"] for r in ok if r["ttft_s"] is not None]) * ms
    wall, queried = sum(r["wall_s"] for r in rounds), sum(r["queried_tokens"] for r in rounds)
    finishes = Counter(r["finish_reason"] for r in ok if r["finish_reason"])
    routed: dict[str, float] = {}
    for rnd in rounds:
        for replica, n in rnd["routed"].items():
            routed[replica] = routed.get(replica, 0) + n
    engine = np.array([r["engine_ttft_s"] for r in ok if r.get("engine_ttft_s") is not None]) * ms
    return {"requests": len(records), "errors": len(records) - len(ok),
            "engine_ttft_p50_ms": pct(engine, 50), "engine_ttft_p99_ms": pct(engine, 99),
            "prefix_cache_hit_rate": sum(r["hit_tokens"] for r in rounds) / queried if queried else None,
            "ttft_p50_ms": pct(ttft, 50), "ttft_p99_ms": pct(ttft, 99),
            "e2e_p50_ms": pct(np.array([r["e2e_s"] for r in ok]) * ms, 50),
            "output_tokens_per_s": sum(r["output_tokens"] for r in ok) / wall * scale,
            "requests_per_s": len(ok) / wall * scale, "wall_s": wall, "routed_per_replica": routed,
            "finish_reasons": dict(sorted(finishes.items()))}


def ratio(a: float, b: float) -> float | None:
    return a / b if a is not None and b else None


def interrupted(signum, frame):
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system-prompts", type=int, default=4)
    parser.add_argument("--system-tokens", type=int, default=1500, help="words (about tokens) per system prompt")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--turn-tokens", type=int, default=64, help="words per user message")
    parser.add_argument("--output-tokens", type=int, default=96,
                        help="max_tokens per turn, reasoning included (the tiny model finishes within it)")
    parser.add_argument("--reasoning-effort", choices=list(REASONING_EFFORTS), default="low",
                        help="of every turn; low keeps the reasoning short within --output-tokens")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions active at once")
    parser.add_argument("--max-duration", type=float, default=300, help="seconds of workload per profile and round")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument("--rounds", type=int, default=1, help="round-robin then default, each on a fresh cluster")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--stand-in", default="", help="a calibration: the replicas run the stand-in engine with it "
                                                       "instead of the tiny model on vLLM (docs/scale.md)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="with --stand-in: steps take this many times "
                                                                      "their calibrated time; divide times by it")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/routing.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    work = Path(tempfile.mkdtemp(prefix="oss-bench-routing-"))
    cache = cache_dir()
    sessions = plan(args)
    rounds: dict[str, list[dict]] = {name: [] for name in PROFILES}
    print(f"logs in {work}", flush=True)
    try:
        for i in range(args.rounds):
            for name in PROFILES:
                rounds[name].append(run_profile(name, work, cache, sessions, args))
                r = rounds[name][-1]
                print(f"round {i + 1}/{args.rounds} {name}: {len(r['records'])} requests in {r['wall_s']:.1f} s",
                      flush=True)
    except KeyboardInterrupt:
        print("interrupted; clusters stopped", file=sys.stderr)
        return 130
    scale = args.time_scale if args.stand_in else 1.0
    summary = {name: summarize(r, scale) for name, r in rounds.items()}
    per_round = {name: [summarize([r], scale) for r in rs] for name, rs in rounds.items()}
    d, rr = summary["default"], summary["round-robin"]
    ratios = {k: ratio(d[k], rr[k]) for k in ("prefix_cache_hit_rate", "ttft_p50_ms", "ttft_p99_ms",
                                              "engine_ttft_p50_ms", "output_tokens_per_s")}
    if scale != 1:
        print(f"\ntimes and rates of the simulated cluster (this machine's divided by the time scale {scale:g})")
    print(f"\n{'profile':<12} {'req':>5} {'err':>4} {'hit rate':>9} {'TTFT p50':>9} {'TTFT p99':>9} {'engine50':>9} "
          f"{'e2e p50':>9} {'tok/s':>7} {'req/s':>6}  routed per replica")
    for name, s in summary.items():
        split = " / ".join(f"{n:.0f}" for _, n in sorted(s["routed_per_replica"].items()))
        def ms(v):
            return f"{v:>7.0f}ms" if v is not None else f"{'n/a':>9}"

        hits = f"{s['prefix_cache_hit_rate']:>9.1%}" if s["prefix_cache_hit_rate"] is not None else f"{'n/a':>9}"
        print(f"{name:<12} {s['requests']:>5} {s['errors']:>4} {hits} "
              f"{ms(s['ttft_p50_ms'])} {ms(s['ttft_p99_ms'])} {ms(s['engine_ttft_p50_ms'])} {ms(s['e2e_p50_ms'])} "
              f"{s['output_tokens_per_s']:>7.1f} {s['requests_per_s']:>6.2f}  {split}")
    for name, s in summary.items():
        print(f"{name} finish reasons: " + (", ".join(f"{k} {n}" for k, n in s["finish_reasons"].items()) or "-"))
    print("\ndefault / round-robin: " + ", ".join(f"{k} x{v:.2f}" if v is not None else f"{k} n/a"
                                                  for k, v in ratios.items()))
    write_results(args, "routing", config={"profiles": PROFILES, "engine_yaml": engine_yaml(args)},
                  date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  machine={"platform": platform.platform(), "cpus": os.cpu_count(),
                           "python": platform.python_version()},
                  summary=summary, ratios_default_to_round_robin=ratios, per_round=per_round, rounds=rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
