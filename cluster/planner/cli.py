"""The `oss-cluster plan` command: its flags, their checks (each error names its flag, exit 2), and
the output. Exit 0 when the recommended plan carries the target, 1 when it falls short or nothing fits."""

import argparse
import json
import sys
from pathlib import Path

from cluster.config import ConfigError, Layout, parse_layout
from cluster.planner.cluster_yaml import cluster_yaml, validate
from cluster.planner.gpus import GPU_MEMORY_BYTES, gpu_memory_bytes
from cluster.planner.memory import KV_DTYPE_BYTES
from cluster.planner.plan import Inputs, candidate_layouts, plan_all, recommend
from cluster.planner.report import as_json, summary, table
from cluster.planner.shape import ModelShape
from cluster.shapes import SHAPES, shape_config

DEFAULT_UTILIZATION = {"bf16": 0.92, "fp8": 0.95}  # the two settings vLLM was measured at (docs/capacity.md)
MAX_CONTEXT = 131072  # engine.max_model_len's bound in cluster.yaml


class BadFlag(ValueError):
    """A flag's value is unusable; the message starts with the flag."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help=f"a shipped shape ({', '.join(SHAPES)}), or a config.json or the directory holding one")
    p.add_argument("--gpu", required=True, help=f"one of {', '.join(GPU_MEMORY_BYTES)}")
    p.add_argument("--gpus-per-node", type=int, default=8, help="(default: %(default)s)")
    p.add_argument("--nodes", type=int, default=1, help="(default: %(default)s)")
    p.add_argument("--context", type=int, default=8192,
                   help="tokens every sequence may reach, prompt and reply (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=256,
                   help="sequences at once in the whole cluster (default: %(default)s)")
    p.add_argument("--kv-dtype", default="bf16", help=f"one of {', '.join(KV_DTYPE_BYTES)} (default: %(default)s)")
    p.add_argument("--gpu-memory-utilization", type=float,
                   help="vLLM's share of each GPU (default: 0.92 with bf16, 0.95 with fp8)")
    p.add_argument("--layouts", nargs="+", metavar="LAYOUT",
                   help="layouts to size, e.g. tp2 dep4 dep4-tp2 (default: every layout that fits a node, "
                        "and dep groups over whole nodes)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--write-config", type=Path, metavar="FILE", help="write the recommended cluster.yaml there")


def run(args: argparse.Namespace) -> int:
    try:
        model_config, model_dir = _model(args.model)
        shape = ModelShape.from_config(model_config)
        inputs = _inputs(args, model_config)
        layouts = _layouts(args.layouts) if args.layouts else candidate_layouts(inputs.gpus_per_node, inputs.nodes)
    except (BadFlag, ValueError) as exc:
        message = str(exc) if isinstance(exc, BadFlag) else f"--model: {exc}"
        print(f"oss-cluster plan: {message}", file=sys.stderr)
        return 2
    plans = plan_all(shape, layouts, inputs)
    recommendation = recommend(plans)
    text, validation = "", ""
    if recommendation is not None:
        text = cluster_yaml(recommendation, inputs, args.model, model_dir)
        validation = validate(text, model_config)
    if args.json:
        print(json.dumps(as_json(plans, recommendation, inputs, args.model, text, validation), indent=2))
    else:
        print(table(plans, recommendation, inputs))
        if text:
            print(f"\ncluster.yaml, {validation}:\n{text}", end="")
    if args.write_config:
        if not text:
            print(f"oss-cluster plan: {summary(recommendation, inputs)}: nothing written", file=sys.stderr)
            return 1
        try:
            args.write_config.write_text(text)
        except OSError as exc:
            print(f"oss-cluster plan: --write-config: {args.write_config}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {args.write_config}", file=sys.stderr)
    return 0 if recommendation is not None and not recommendation.short else 1


def _model(name_or_path: str) -> tuple[dict, str | None]:
    """The model's config.json, and its directory when the user named one (None for a shipped shape)."""
    config = shape_config(name_or_path)
    if name_or_path in SHAPES:
        return config, None
    path = Path(name_or_path).resolve()
    return config, str(path if path.is_dir() else path.parent)


def _inputs(args: argparse.Namespace, model_config: dict) -> Inputs:
    if args.gpu not in GPU_MEMORY_BYTES:
        raise BadFlag(f"--gpu: {args.gpu!r} is not a known GPU; known: {', '.join(GPU_MEMORY_BYTES)}")
    if args.kv_dtype not in KV_DTYPE_BYTES:
        raise BadFlag(f"--kv-dtype: {args.kv_dtype!r}; allowed: {', '.join(KV_DTYPE_BYTES)}")
    longest = min(MAX_CONTEXT, model_config.get("max_position_embeddings", MAX_CONTEXT))
    _in_range("--context", args.context, 64, longest)
    _in_range("--concurrency", args.concurrency, 1, 1 << 24)
    _in_range("--gpus-per-node", args.gpus_per_node, 1, 64)
    _in_range("--nodes", args.nodes, 1, 4096)
    utilization = args.gpu_memory_utilization
    if utilization is None:
        utilization = DEFAULT_UTILIZATION[args.kv_dtype]
    _in_range("--gpu-memory-utilization", utilization, 0.05, 0.99)
    return Inputs(gpu=args.gpu, gpu_bytes=gpu_memory_bytes(args.gpu), gpus_per_node=args.gpus_per_node,
                  nodes=args.nodes, context=args.context, concurrency=args.concurrency, kv_dtype=args.kv_dtype,
                  gpu_memory_utilization=utilization)


def _layouts(values: list[str]) -> list[Layout]:
    names = [name for value in values for name in value.split(",") if name]
    try:
        return [parse_layout(name, "--layouts") for name in names]
    except ConfigError as exc:
        raise BadFlag(str(exc)) from None


def _in_range(flag: str, value, low, high) -> None:
    if not low <= value <= high:
        raise BadFlag(f"{flag}: {value} is out of range; allowed: {low} to {high}")
