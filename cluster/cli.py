"""The `oss-cluster` command: serve, controller, gateway, status, chat, bench, simulate, plan, validate-config,
make-tiny-model, make-shape-model."""

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from cluster.config import TINY_VARIANTS, ConfigError, embedded_default, load_config, on_loopback
from loadtest.arguments import add_arguments as add_bench_arguments

APPLY_HELP = ("if the cluster runs another plan, roll this config's out (replicas replaced one at a time) "
              "instead of refusing to start")


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
    p.add_argument("--apply", action="store_true", help=APPLY_HELP)
    p = sub.add_parser("controller", help="run the cluster's controller on an existing Ray cluster")
    p.add_argument("--config", required=True, help="cluster.yaml; its model.path must exist on every replica node")
    p.add_argument("--apply", action="store_true", help=APPLY_HELP)
    p = sub.add_parser("gateway", help="run one more gateway for a running cluster (this machine must be a Ray node)")
    p.add_argument("--config", required=True, help="cluster.yaml; its plan must match the running controller's")
    p.add_argument("--apply", action="store_true", help=APPLY_HELP)
    p = sub.add_parser("status", help="print the replicas, desired vs actual and the autoscaler's last decision")
    p.add_argument("--config", help="cluster.yaml whose ray_address to ask; default: the embedded default "
                                    "that `oss-cluster serve` runs on this machine")
    p.add_argument("--address", help="the Ray cluster's GCS address (host:port)")
    p.add_argument("--json", action="store_true", help="print JSON")
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
    p = sub.add_parser("simulate", help="predict a cluster.yaml's throughput, latencies and replica counts under a "
                                        "load-test workload, with stand-in engines on this machine")
    p.add_argument("--config", type=Path, required=True, help="the cluster.yaml to simulate")
    p.add_argument("--calibration", default="h100-gpt-oss-120b",
                   help="the stand-in engines' calibration: a shipped name or a .json path (default: %(default)s)")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="run every engine step this many times slower, and the workload alike, so that this "
                        "machine can carry the tokens; the figures are scaled back (default: %(default)s)")
    add_bench_arguments(p)  # the workload; --target is ignored: the simulation starts its own gateway
    p = sub.add_parser("plan", help="size each layout for a concurrency at a context length on a GPU type, and "
                                    "write the cluster.yaml that needs fewest GPUs (computation only)")
    _add_plan_arguments(p)
    p = sub.add_parser("compare", help="print B's load-test figures as ratios of A's, with the noise")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p = sub.add_parser("validate-config", help="check a cluster.yaml and print the settings it yields")
    p.add_argument("file")
    p = sub.add_parser("hash-key", help="print the hash a tenants file stores for each API key read from stdin")
    p.add_argument("--generate", action="store_true",
                   help="make a new random key instead: print it, then its hash, one per line")
    p = sub.add_parser("make-tiny-model", help="write the tiny gpt-oss model and print its directory")
    p.add_argument("--variant", choices=TINY_VARIANTS, default="trained",
                   help="trained: speaks Harmony (the embedded default); random: untrained weights "
                        "(default: %(default)s)")
    p.add_argument("--cache-dir", type=Path, help="default: $OSS_CLUSTER_CACHE or ~/.cache/oss-cluster")
    p = sub.add_parser("make-shape-model", help="write a model directory with a real model's config.json and "
                                                "tokenizer but no weights, to serve with model.load_format: dummy")
    _add_shape_model_arguments(p)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("OSS_CLUSTER_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"oss-cluster: invalid config: {exc}", file=sys.stderr)
        return 2


def keep_ray_on_loopback(address: str) -> None:
    """A cluster of this machine alone (no address, or a loopback one) stays on loopback: Ray must be
    told before it is imported, or it resolves "127.0.0.1" to the machine's address."""
    if not address or on_loopback(address):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _serve(args) -> int:
    config = load_config(args.config) if args.config else embedded_default()
    keep_ray_on_loopback(config.ray_address)
    from cluster.serve import serve

    return _run_role(serve(config, cache_dir(), replica_logs=args.replica_logs, apply=args.apply))


def _controller(args) -> int:
    config = load_config(args.config)
    keep_ray_on_loopback(config.ray_address)
    from cluster.serve import run_controller_role

    return _run_role(run_controller_role(config, cache_dir(), args.apply))


def _gateway(args) -> int:
    config = load_config(args.config)
    keep_ray_on_loopback(config.ray_address)
    from cluster.serve import run_gateway_role

    return _run_role(run_gateway_role(config, cache_dir(), args.apply))


def _run_role(role) -> int:
    from cluster.controller.connect import ControllerError

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(role)
    except (OSError, ControllerError, ConnectionError) as exc:
        print(f"oss-cluster: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _loop_factory():
    """Python's event loop, or uvloop's with OSS_CLUSTER_LOOP=uvloop: about a ninth less gateway CPU
    per request below saturation, a tail four times longer once the gateway's core is saturated
    (docs/scale.md), so not the default."""
    if os.environ.get("OSS_CLUSTER_LOOP", "asyncio") != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _status(args) -> int:
    address = args.address or (load_config(args.config).ray_address if args.config else "")
    keep_ray_on_loopback(address)
    from cluster.status_command import print_status

    return print_status(address, cache_dir(), args.json)


def _chat(args) -> int:
    from cluster.chat_client import run_chat

    return run_chat(args)


def _bench(args) -> int:
    from loadtest.cli import bench

    return bench(args)


def _simulate(args) -> int:
    from loadtest.simulate import simulate

    return simulate(args)


def _add_plan_arguments(p) -> None:
    from cluster.planner.cli import add_arguments

    add_arguments(p)


def _plan(args) -> int:
    from cluster.planner.cli import run

    return run(args)


def _compare(args) -> int:
    from loadtest.compare import compare

    print(compare(args.a, args.b))
    return 0


def _validate_config(args) -> int:
    from cluster.controller import autoscale
    from cluster.router.profile import profile_from_config

    from cluster.gateway.tenants import Tenants, TenantsError
    from cluster.gateway.tls import ServerTls

    from cluster.replica.placement import plan_replicas

    config = load_config(args.file)
    profile_from_config(config.router)
    autoscale.check(config.autoscaling)
    plan_replicas(config, config.model.path)  # the engine's own checks (a stand-in's calibration)
    g = config.gateway
    tls = ServerTls.from_config(g.tls_cert_file, g.tls_key_file, g.tls_client_ca_file)
    if tls is not None:
        tls.check()
    if config.gateway.tenants_file:
        try:
            tenants = Tenants(config.gateway.tenants_file)
        except TenantsError as exc:
            raise ConfigError(f"gateway.tenants_file: {config.gateway.tenants_file}: {exc}") from None
        print(f"{config.gateway.tenants_file}: {len(tenants.names())} tenant(s): {', '.join(tenants.names())}")
    print(f"{args.file}: valid")
    print(config)
    return 0


def _hash_key(args) -> int:
    import secrets

    from cluster.gateway.tenants import hash_key

    if args.generate:
        key = "sk-" + secrets.token_urlsafe(32)  # 256 random bits
        print(key)
        print(hash_key(key))
        return 0
    keys = [line.strip() for line in sys.stdin if line.strip()]
    if not keys:
        print("oss-cluster hash-key: no key on stdin; e.g. `echo \"$KEY\" | oss-cluster hash-key`", file=sys.stderr)
        return 2
    for key in keys:
        print(hash_key(key))
    return 0


def _make_tiny_model(args) -> int:
    from cluster.tinymodel import ensure_tiny_model

    print(ensure_tiny_model((args.cache_dir or cache_dir()) / "models", args.variant))
    return 0


def _add_shape_model_arguments(p) -> None:
    from cluster.shape_model import add_arguments

    add_arguments(p)


def _make_shape_model(args) -> int:
    from cluster.shape_model import run

    return run(args)


COMMANDS = {"serve": _serve, "controller": _controller, "gateway": _gateway, "status": _status, "chat": _chat,
            "bench": _bench, "simulate": _simulate, "plan": _plan, "compare": _compare,
            "validate-config": _validate_config, "hash-key": _hash_key, "make-tiny-model": _make_tiny_model,
            "make-shape-model": _make_shape_model}

if __name__ == "__main__":
    sys.exit(main())
