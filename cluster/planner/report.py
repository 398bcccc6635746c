"""The plan as a table for people and as JSON for programs."""

import dataclasses

from cluster.planner.memory import GIB, NON_KV_OVERHEAD_BYTES
from cluster.planner.plan import Inputs, LayoutPlan, Recommendation

HEADER = ("layout", "GPUs", "weights GiB/GPU", "KV GiB/GPU", "KV tokens/GPU", "KV tokens/replica",
          "seqs/replica", "replicas fit", "cluster seqs", "for the target")


def table(plans: list[LayoutPlan], recommendation: Recommendation | None, inputs: Inputs) -> str:
    rows = [HEADER] + [_row(p) for p in plans]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    if any(p.seqs_per_rank < p.seqs_per_rank_kv for p in plans):
        lines.append(f"* capped by max_num_seqs {inputs.max_num_seqs} per engine (rank); the KV cache holds more")
    lines += [f"{p.layout}: {p.reason}" for p in plans if not p.fits]
    lines.append(summary(recommendation, inputs))
    return "\n".join(lines)


def _row(p: LayoutPlan) -> tuple[str, ...]:
    if not p.fits:
        target = "does not fit"
    elif p.meets:
        target = f"{p.replicas_needed} × {p.layout.gpus} = {p.replicas_needed * p.layout.gpus} GPUs"
    else:
        target = f"short: needs {p.replicas_needed * p.layout.gpus} GPUs"
    capped = "*" if p.seqs_per_rank < p.seqs_per_rank_kv else ""
    return (str(p.layout), str(p.layout.gpus), f"{p.weight_bytes_per_gpu / GIB:.1f}",
            f"{max(0, p.kv_bytes_per_gpu) / GIB:.1f}", f"{p.kv_tokens_per_gpu:,}", f"{p.kv_tokens_per_replica:,}",
            f"{p.seqs_per_replica:,}{capped}", str(p.replicas_fit), f"{p.cluster_seqs:,}", target)


def summary(recommendation: Recommendation | None, inputs: Inputs) -> str:
    if recommendation is None:
        return f"no layout fits {inputs.gpu} for this model"
    r = recommendation
    verdict = (f"SHORT of the {inputs.concurrency:,} asked for: no layout carries them on "
               f"{inputs.total_gpus} GPUs" if r.short else f"target {inputs.concurrency:,}")
    return (f"recommended: {r.plan.layout} × {r.replicas} replica(s) = {r.gpus} {inputs.gpu}, "
            f"{r.seqs:,} sequences of {inputs.context:,} tokens ({verdict})")


def as_json(plans: list[LayoutPlan], recommendation: Recommendation | None, inputs: Inputs, model: str,
            cluster_yaml: str, validation: str) -> dict:
    return {
        "model": model,
        "inputs": dataclasses.asdict(inputs),
        "non_kv_overhead_bytes": NON_KV_OVERHEAD_BYTES,
        "layouts": [_layout_json(p) for p in plans],
        "recommendation": None if recommendation is None else {
            "layout": str(recommendation.plan.layout), "replicas": recommendation.replicas,
            "gpus": recommendation.gpus, "seqs": recommendation.seqs, "short": recommendation.short,
            "cluster_yaml": cluster_yaml, "validation": validation},
    }


def _layout_json(p: LayoutPlan) -> dict:
    return {"layout": str(p.layout), "gpus": p.layout.gpus, "ranks": p.layout.ranks,
            "tensor_parallel": p.layout.tensor_parallel, "fits": p.fits, "reason": p.reason,
            "weight_bytes_per_gpu": p.weight_bytes_per_gpu, "kv_bytes_per_gpu": max(0, p.kv_bytes_per_gpu),
            "kv_tokens_per_gpu": p.kv_tokens_per_gpu, "kv_tokens_per_rank": p.kv_tokens_per_rank,
            "kv_tokens_per_replica": p.kv_tokens_per_replica, "seqs_per_rank_kv": p.seqs_per_rank_kv,
            "seqs_per_rank": p.seqs_per_rank,
            "seqs_per_replica": p.seqs_per_replica, "replicas_fit": p.replicas_fit,
            "cluster_seqs": p.cluster_seqs, "replicas_needed": p.replicas_needed, "meets": p.meets}
