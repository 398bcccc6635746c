"""`oss-cluster bench`: one run against a running server, results.json and report.png in --out."""

import argparse
import asyncio
import dataclasses
import signal
from pathlib import Path

from loadtest.clients import GrpcClient, HttpClient
from loadtest.distributions import parse_distribution
from loadtest.report import table, write_json, write_png
from loadtest.runner import Progress, run
from loadtest.stats import Slo, summarize
from loadtest.workload import PATTERNS, WorkloadSpec, load_prompts, plan

DEFAULT_TARGETS = {"grpc": "127.0.0.1:50051", "http": "http://127.0.0.1:8000"}  # the embedded default


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, required=True, help="most seconds to send for (required)")
    p.add_argument("--out", type=Path, required=True, help="directory for results.json and report.png")
    p.add_argument("--max-requests", type=int, default=1000, help="most requests to send (default: %(default)s)")
    p.add_argument("--api", choices=["grpc", "http"], default="grpc")
    p.add_argument("--target", help="gRPC address or HTTP base URL (default: the embedded default's)")
    p.add_argument("--endpoint", choices=["chat", "completions"], default="chat",
                   help="chat: messages to Chat / /v1/chat/completions, time to first token = first visible "
                        "reasoning, content or tool-call delta; completions: the raw path, a hand-built Harmony "
                        "prompt to Generate / /v1/completions, first generated token (default: %(default)s)")
    p.add_argument("--model", default="tiny-gpt-oss", help="model name for the HTTP API")
    p.add_argument("--pattern", choices=PATTERNS, default="concurrency")
    p.add_argument("--concurrency", type=int, default=4, help="closed loop: requests in flight")
    p.add_argument("--rate", type=float, default=2.0, help="open loop: requests per second")
    p.add_argument("--burst-on", type=float, default=5.0, help="burst pattern: seconds on")
    p.add_argument("--burst-off", type=float, default=5.0, help="burst pattern: seconds off")
    p.add_argument("--prompt-tokens", default="fixed:128", help="fixed:N | uniform:LO:HI | lognormal:MEDIAN:SIGMA")
    p.add_argument("--output-tokens", default="fixed:64",
                   help="max_tokens of each request, as --prompt-tokens; a model that ends its answer sooner "
                        "generates fewer")
    p.add_argument("--shared-prefix-fraction", type=float, default=0.0)
    p.add_argument("--reasoning-mix", default="low=1", help="e.g. low=0.6,medium=0.3,high=0.1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slo-ttft", type=float, default=1.0, help="SLO on time to first token, seconds")
    p.add_argument("--slo-itl", type=float, default=0.050, help="SLO on mean inter-token latency, seconds")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request deadline, seconds")
    p.add_argument("--api-key", default="")
    p.add_argument("--repeats", type=int, default=1, help="run the same plan this many times (for the noise)")
    p.add_argument("--sweep-rates", default="", help="e.g. 1,2,4,8: one Poisson run per rate, each of --duration "
                   "seconds, stopping after the first rate whose SLO attainment falls below --sweep-stop-below")
    p.add_argument("--sweep-stop-below", type=float, default=0.9)
    p.add_argument("--long-context-fraction", type=float, default=0.0)
    p.add_argument("--long-context-tokens", type=int, default=4096)
    p.add_argument("--session-turns", type=int, default=1, help="> 1: multi-turn sessions whose prompts grow")
    p.add_argument("--prompts-file", help="JSONL of {\"prompt\", optional \"system\", \"max_tokens\"}")


def bench(args: argparse.Namespace) -> int:
    mix = tuple((name, float(weight)) for name, weight in (part.split("=") for part in args.reasoning_mix.split(",")))
    spec = WorkloadSpec(pattern=args.pattern, concurrency=args.concurrency, rate=args.rate,
                        burst_on_s=args.burst_on, burst_off_s=args.burst_off,
                        prompt_tokens=parse_distribution(args.prompt_tokens),
                        output_tokens=parse_distribution(args.output_tokens),
                        shared_prefix_fraction=args.shared_prefix_fraction, reasoning_mix=mix,
                        long_context_fraction=args.long_context_fraction, long_context_tokens=args.long_context_tokens,
                        session_turns=args.session_turns,
                        prompts=load_prompts(args.prompts_file) if args.prompts_file else (), seed=args.seed)
    target = args.target or DEFAULT_TARGETS[args.api]
    slo = Slo(args.slo_ttft, args.slo_itl)
    config = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k not in ("api_key", "func", "command")},
              "target": target, "spec": {**{k: v for k, v in spec.__dict__.items() if k != "prompts"},
                                         "prompt_tokens": str(spec.prompt_tokens),
                                         "output_tokens": str(spec.output_tokens), "prompts": len(spec.prompts)}}
    rates = [float(r) for r in args.sweep_rates.split(",") if r.strip()]
    runs, sweep, interrupted = [], [], False
    for rate in rates or [None]:
        point = spec if rate is None else dataclasses.replace(spec, pattern="poisson", rate=rate)
        for _ in range(args.repeats):
            results, wall, interrupted = asyncio.run(_run(args, target, plan(point, args.max_requests), point))
            runs.append((results, wall))
            if interrupted:
                break
        if rate is not None:
            point_summary = summarize([r for res, _ in runs[-args.repeats:] for r in res],
                                      sum(w for _, w in runs[-args.repeats:]), slo)
            sweep.append({"rate": rate, "summary": point_summary})
            print(f"rate {rate:g}/s: SLO attainment {point_summary['slo_attainment']:.1%}")
            if point_summary["slo_attainment"] < args.sweep_stop_below:
                break
        if interrupted:
            break
    results = [r for res, _ in runs for r in res]
    summary = summarize(results, sum(w for _, w in runs), slo)
    repeats = [summarize(res, wall, slo) for res, wall in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", config, summary, results, interrupted, repeats=repeats, sweep=sweep)
    offered = [(p["rate"], p["summary"]["slo_attainment"]) for p in sweep] or \
        [(args.rate if args.pattern != "concurrency" else summary["requests_per_s"], summary["slo_attainment"])]
    write_png(args.out / "report.png", results, offered)
    print(table(summary))
    if summary["succeeded"] and not summary["ttft_s"]["count"] and args.endpoint == "chat":
        print("no answer had a visible token, so there is no time to first token: a model that does not write "
              "valid Harmony shows nothing on chat; measure it with --endpoint completions")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'report.png'}"
          + (" (interrupted: partial results)" if interrupted else ""))
    return 130 if interrupted else 0


async def _run(args, target: str, requests, spec: WorkloadSpec):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if args.api == "grpc":
        client = GrpcClient(target, args.endpoint, args.timeout, args.api_key)
    else:
        client = HttpClient(target, args.endpoint, args.timeout, args.model, args.api_key)
    progress = Progress(len(requests), args.duration)
    try:
        in_flight = spec.concurrency if spec.pattern == "concurrency" else len(requests)
        results, wall = await run(requests, client, in_flight, args.duration, drain_s=args.timeout, stop=stop,
                                  progress=progress)
    finally:
        progress.close()
        await client.close()
        loop.remove_signal_handler(signal.SIGINT)
    return results, wall, stop.is_set()
