"""Each layout sized on a cluster for a target concurrency at a context length, and the one to deploy.

A replica is a whole layout group: one engine for tpN, N engines (ranks) with a KV cache each for
depN. A group of at most a node's GPUs lives in one node; a larger dep group spans whole nodes.
"""

import math
from dataclasses import dataclass

from cluster.config import MAX_RANKS, TENSOR_PARALLEL_SIZES, EngineConfig, Layout
from cluster.planner import memory
from cluster.planner.shape import ModelShape

MAX_NUM_SEQS = EngineConfig.max_num_seqs  # the engine's default cap on running sequences, per rank


@dataclass(frozen=True)
class Inputs:
    """The hardware and the traffic; checked by the command (`cluster.planner.cli`), which names the flag."""

    gpu: str  # a name of cluster.planner.gpus
    gpu_bytes: int
    gpus_per_node: int = 8
    nodes: int = 1
    context: int = 8192  # tokens every sequence may reach
    concurrency: int = 256  # sequences at once in the whole cluster
    kv_dtype: str = "bf16"
    gpu_memory_utilization: float = 0.92
    max_num_seqs: int = MAX_NUM_SEQS

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass(frozen=True)
class LayoutPlan:
    layout: Layout
    weight_bytes_per_gpu: int
    kv_bytes_per_gpu: int  # the KV cache's budget; negative when the weights do not fit
    kv_tokens_per_rank: int  # tokens of full-attention context one engine holds
    seqs_per_rank_kv: int  # sequences at the target context one engine's KV cache holds
    seqs_per_rank: int  # and what it runs: at most max_num_seqs
    replicas_fit: int  # replicas the cluster places
    replicas_needed: int  # replicas that carry the target concurrency (0 when the layout does not fit)
    reason: str = ""  # why the layout does not fit; empty when it does

    @property
    def fits(self) -> bool:
        return not self.reason

    @property
    def kv_tokens_per_replica(self) -> int:
        return self.layout.ranks * self.kv_tokens_per_rank

    @property
    def kv_tokens_per_gpu(self) -> int:
        return self.kv_tokens_per_replica // self.layout.gpus

    @property
    def seqs_per_replica(self) -> int:
        return self.layout.ranks * self.seqs_per_rank

    @property
    def cluster_seqs(self) -> int:
        """Sequences at the target context with every replica that fits."""
        return self.replicas_fit * self.seqs_per_replica

    @property
    def meets(self) -> bool:
        return self.fits and self.replicas_needed <= self.replicas_fit


@dataclass(frozen=True)
class Recommendation:
    plan: LayoutPlan
    replicas: int
    short: bool  # no layout carries the target: this one carries the most

    @property
    def gpus(self) -> int:
        return self.replicas * self.plan.layout.gpus

    @property
    def seqs(self) -> int:
        return self.replicas * self.plan.seqs_per_replica


def candidate_layouts(gpus_per_node: int, nodes: int) -> list[Layout]:
    """tpN within a node; depN and depN-tp2 over a power of two of a node's GPUs (or all of them), or
    over whole nodes."""
    in_node = sorted({2**i for i in range(7) if 2**i <= gpus_per_node} | {gpus_per_node})
    spanning = [gpus_per_node * k for k in range(2, nodes + 1)]
    layouts = [Layout(1, tp) for tp in TENSOR_PARALLEL_SIZES if tp <= gpus_per_node]
    for tp in (1, 2):
        layouts += [Layout(gpus // tp, tp) for gpus in in_node + spanning
                    if gpus % tp == 0 and 2 <= gpus // tp <= MAX_RANKS]
    return layouts


def replicas_that_fit(layout: Layout, gpus_per_node: int, nodes: int) -> tuple[int, str]:
    """Replicas the cluster places, and why none when none."""
    gpus = layout.gpus
    if layout.tensor_parallel > gpus_per_node:
        return 0, f"tensor parallel over {layout.tensor_parallel} GPUs needs them in one node of {gpus_per_node}"
    if gpus <= gpus_per_node:
        return nodes * (gpus_per_node // gpus), ""
    if gpus % gpus_per_node:
        return 0, f"a group of {gpus} GPUs spans nodes, so it needs whole nodes of {gpus_per_node}"
    if gpus > gpus_per_node * nodes:
        return 0, f"needs {gpus} GPUs; the cluster has {gpus_per_node * nodes}"
    return nodes // (gpus // gpus_per_node), ""


def plan_layout(shape: ModelShape, layout: Layout, inputs: Inputs) -> LayoutPlan:
    tp, dtype = layout.tensor_parallel, inputs.kv_dtype
    weights = memory.weight_bytes_per_gpu(shape, layout)
    budget = memory.kv_budget_bytes(inputs.gpu_bytes, inputs.gpu_memory_utilization, weights)
    tokens = memory.kv_tokens(shape, tp, dtype, budget)
    seqs_kv = max(0, budget) // memory.sequence_kv_bytes(shape, tp, dtype, inputs.context)
    seqs = min(inputs.max_num_seqs, seqs_kv)
    replicas, reason = replicas_that_fit(layout, inputs.gpus_per_node, inputs.nodes)
    if budget <= 0:
        usable = inputs.gpu_memory_utilization * inputs.gpu_bytes / memory.GIB
        reason = (f"weights ({weights / memory.GIB:.1f} GiB per GPU) and vLLM's other "
                  f"{memory.NON_KV_OVERHEAD_BYTES / memory.GIB:.1f} GiB exceed the {usable:.1f} GiB it may use")
    elif seqs == 0:
        reason = f"the KV cache ({budget / memory.GIB:.1f} GiB per GPU) holds no sequence of {inputs.context} tokens"
    needed = math.ceil(inputs.concurrency / (layout.ranks * seqs)) if not reason else 0
    return LayoutPlan(layout, weights, budget, tokens, seqs_kv, seqs, replicas if not reason else 0, needed, reason)


def plan_all(shape: ModelShape, layouts: list[Layout], inputs: Inputs) -> list[LayoutPlan]:
    return [plan_layout(shape, layout, inputs) for layout in layouts]


def recommend(plans: list[LayoutPlan]) -> Recommendation | None:
    """Of the layouts that carry the target, the one needing fewest GPUs (ties: the most sequences);
    if none does, the one carrying the most, flagged short; None when no layout fits at all."""
    meeting = [p for p in plans if p.meets]
    if meeting:
        best = min(meeting, key=lambda p: (p.replicas_needed * p.layout.gpus, -p.replicas_needed * p.seqs_per_replica))
        return Recommendation(best, best.replicas_needed, short=False)
    fitting = [p for p in plans if p.fits]
    if not fitting:
        return None
    best = max(fitting, key=lambda p: (p.cluster_seqs, -p.replicas_fit * p.layout.gpus))
    return Recommendation(best, best.replicas_fit, short=True)
