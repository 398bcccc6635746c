"""`oss-cluster bench`: one run against a running server, results.json and report.png in --out."""

import argparse
import asyncio
import dataclasses
import signal
from pathlib import Path

from loadtest.arguments import DEFAULT_TARGETS
from loadtest.clients import GrpcClient, HttpClient
from loadtest.distributions import parse_distribution
from loadtest.report import table, write_json, write_png
from loadtest.runner import Progress, run
from loadtest.stats import Slo, summarize
from loadtest.workload import WorkloadSpec, load_prompts, plan

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
                 if k not in ("api_key", "func", "command", "started")},
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
        client = GrpcClient(target, args.endpoint, args.timeout, args.api_key, args.ignore_eos)
    else:
        client = HttpClient(target, args.endpoint, args.timeout, args.model, args.api_key, args.ignore_eos)
    progress = Progress(len(requests), args.duration)
    try:
        in_flight = spec.concurrency if spec.pattern == "concurrency" else len(requests)
        results, wall = await run(requests, client, in_flight, args.duration, drain_s=args.timeout, stop=stop,
                                  progress=progress, started=getattr(args, "started", None) or (lambda: None))
    finally:
        progress.close()
        await client.close()
        loop.remove_signal_handler(signal.SIGINT)
    return results, wall, stop.is_set()
