"""The recommended plan as a cluster.yaml, and its check by the project's own validator."""

import json
import tempfile
from pathlib import Path

import yaml

from cluster.config import parse_config
from cluster.planner.plan import Inputs, Recommendation

PLACEHOLDER_ROOT = "/models"  # where a shipped shape's checkpoint is assumed to be; the file says to change it


def cluster_yaml(recommendation: Recommendation, inputs: Inputs, model: str, model_dir: str | None) -> str:
    """The cluster.yaml of the recommendation. `model_dir` is the checkpoint directory the user gave;
    None for a shipped shape, whose path is a placeholder the file marks as such."""
    plan = recommendation.plan
    path_line = (f"  path: {model_dir}" if model_dir else
                 f"  path: {PLACEHOLDER_ROOT}/{model}  # placeholder: the checkpoint's directory on every replica node")
    short = (f"\n# SHORT: carries {recommendation.seqs} of the {inputs.concurrency} sequences asked for"
             if recommendation.short else "")
    seqs_note = ("what its KV cache holds at max_model_len" if plan.seqs_per_rank == plan.seqs_per_rank_kv else
                 f"the engine's default; its KV cache holds {plan.seqs_per_rank_kv} at max_model_len")
    return (
        f"# oss-cluster plan: {model} on {inputs.nodes} node(s) of {inputs.gpus_per_node}× {inputs.gpu}, "
        f"{inputs.concurrency} sequences of {inputs.context} tokens, {inputs.kv_dtype} KV cache{short}\n"
        f"# {recommendation.replicas} × {plan.layout} = {recommendation.gpus} GPUs, "
        f"{recommendation.seqs} sequences at {inputs.context} tokens\n"
        "model:\n"
        f"{path_line}\n"
        f"layout: {plan.layout}\n"
        f"replicas: {recommendation.replicas}\n"
        "device: gpu\n"
        "engine:\n"
        f"  gpu_memory_utilization: {inputs.gpu_memory_utilization}\n"
        f"  kv_cache_dtype: {'fp8' if inputs.kv_dtype == 'fp8' else 'auto'}\n"
        f"  max_model_len: {inputs.context}\n"
        f"  max_num_seqs: {plan.seqs_per_rank}  # per rank: {seqs_note}\n"
    )


def validate(text: str, model_config: dict) -> str:
    """Parses `text` with `cluster.config.parse_config` (ConfigError if it is invalid) and says what was
    checked. A model.path that is not a directory here (the placeholder) is replaced for the check by
    a temporary directory holding the model's config.json, since parse_config requires one."""
    raw = yaml.safe_load(text)
    if Path(raw["model"]["path"]).is_dir():
        parse_config(raw)
        return "valid (cluster.config.parse_config)"
    with tempfile.TemporaryDirectory() as stand_in:
        (Path(stand_in) / "config.json").write_text(json.dumps(model_config))
        parse_config({**raw, "model": {**raw["model"], "path": stand_in}})
    return ("valid (cluster.config.parse_config), with model.path replaced by a temporary directory holding "
            "the model's config.json: set model.path to the checkpoint")
