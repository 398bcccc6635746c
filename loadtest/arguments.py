"""The arguments of `oss-cluster bench`, apart from the run itself so that every `oss-cluster` command can
list them without importing the load-test clients."""

import argparse
from pathlib import Path

from loadtest.workload import PATTERNS

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
    p.add_argument("--ignore-eos", action="store_true",
                   help="completions: every request generates exactly its output tokens, past the end of the turn, "
                        "as `vllm bench serve` does")
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
