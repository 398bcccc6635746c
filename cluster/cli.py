"""The `oss-cluster` command: serve, chat, bench, validate-config, make-tiny-model."""

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from cluster.config import ConfigError, embedded_default, load_config
from loadtest.cli import add_arguments as add_bench_arguments


def cache_dir() -> Path:
    """Where generated models live: $OSS_CLUSTER_CACHE, else the XDG cache directory."""
    if os.environ.get("OSS_CLUSTER_CACHE"):
        return Path(os.environ["OSS_CLUSTER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "oss-cluster"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oss-cluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the configured model (the embedded tiny model by default)")
    p.add_argument("--config", help="cluster.yaml; without it, one tiny CPU replica on loopback")
    p.add_argument("--replica-logs", action="store_true", help="print the replicas' and vLLM's logs too")
    p = sub.add_parser("chat", help="send one chat message over gRPC and stream the answer")
    p.add_argument("message")
    p.add_argument("--target", default="127.0.0.1:50051", help="gateway gRPC address (default: %(default)s)")
    p.add_argument("--system", default="", help="developer instructions")
    p.add_argument("--effort", choices=["low", "medium", "high"], default="medium", help="reasoning effort")
    p.add_argument("--max-tokens", type=int, help="most tokens to generate")
    p.add_argument("--temperature", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds (default: %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("OSS_CLUSTER_API_KEY", ""),
                   help="API key, when the gateway requires one (default: $OSS_CLUSTER_API_KEY)")
    p = sub.add_parser("bench", help="load-test a running server (the embedded default unless --target)")
    add_bench_arguments(p)
    p = sub.add_parser("compare", help="print B's load-test figures as ratios of A's, with the noise")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p = sub.add_parser("validate-config", help="check a cluster.yaml and print the settings it yields")
    p.add_argument("file")
    p = sub.add_parser("make-tiny-model", help="generate the tiny gpt-oss model and print its directory")
    p.add_argument("--cache-dir", type=Path, help="default: $OSS_CLUSTER_CACHE or ~/.cache/oss-cluster")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("OSS_CLUSTER_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"oss-cluster: invalid config: {exc}", file=sys.stderr)
        return 2


def _serve(args) -> int:
    from cluster.serve import serve

    config = load_config(args.config) if args.config else embedded_default()
    try:
        asyncio.run(serve(config, cache_dir(), replica_logs=args.replica_logs))
    except OSError as exc:
        print(f"oss-cluster: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _chat(args) -> int:
    from cluster.chat_client import run_chat

    return run_chat(args)


def _bench(args) -> int:
    from loadtest.cli import bench

    return bench(args)


def _compare(args) -> int:
    from loadtest.compare import compare

    print(compare(args.a, args.b))
    return 0


def _validate_config(args) -> int:
    from cluster.router.profile import profile_from_config

    config = load_config(args.file)
    profile_from_config(config.router)
    print(f"{args.file}: valid")
    print(config)
    return 0


def _make_tiny_model(args) -> int:
    from cluster.replica.tiny_model import ensure_tiny_model

    print(ensure_tiny_model((args.cache_dir or cache_dir()) / "models"))
    return 0


COMMANDS = {"serve": _serve, "chat": _chat, "bench": _bench, "compare": _compare, "validate-config": _validate_config,
            "make-tiny-model": _make_tiny_model}

if __name__ == "__main__":
    sys.exit(main())
