"""One GPU's memory under vLLM: the weights it holds, the KV cache's budget and the bytes a token or a
sequence takes in it. Pure functions of a ModelShape and a Layout; the model, its calibration and
what it leaves out are in docs/capacity.md ("Planning GPUs")."""

import math

from cluster.config import Layout
from cluster.planner.shape import ModelShape

GIB = 2**30
BF16_BYTES = 2
MXFP4_BYTES_PER_VALUE = 0.5 + 1 / 32  # a 4-bit code per value and one E8M0 scale byte per 32 values
KV_DTYPE_BYTES = {"bf16": 2, "fp8": 1}
KV_BLOCK_TOKENS = 16  # vLLM's KV-cache block for gpt-oss

# Everything vLLM reserves besides weights and KV cache: activations at the profiled peak, CUDA graphs,
# torch's and NCCL's buffers, and the difference between our weight sum (60.8 GiB for 120b) and what
# vLLM loads (it logs 61.4 GiB). Fitted to vLLM 0.26.0 on one H100 80GB, gpt-oss-120b tp1: 131,024 KV
# tokens logged at gpu_memory_utilization 0.92 with bf16 KV, 330,261 at 0.95 with fp8, read as
# `vllm_logged_kv_tokens` reads them. The two points ask for 3.33e9 and 3.37e9 bytes.
NON_KV_OVERHEAD_BYTES = 3_350_000_000


def attention_params_per_gpu(shape: ModelShape, tensor_parallel: int) -> int:
    """One layer's attention on one GPU of `tensor_parallel`: its share of the query and KV heads."""
    heads = math.ceil(shape.heads / tensor_parallel)
    kv_heads = kv_heads_per_gpu(shape, tensor_parallel)
    bias = int(shape.attention_bias)
    q = shape.hidden * heads * shape.head_dim + bias * heads * shape.head_dim
    kv = 2 * (shape.hidden * kv_heads * shape.head_dim + bias * kv_heads * shape.head_dim)
    o = heads * shape.head_dim * shape.hidden + bias * shape.hidden  # o's bias is whole on every GPU
    sinks = heads  # gpt-oss's attention sinks: one logit per head
    return q + kv + o + sinks


def non_expert_bytes_per_gpu(shape: ModelShape, tensor_parallel: int) -> int:
    """bf16 weights outside the experts on one GPU of a rank: embeddings, LM head and attention split
    `tensor_parallel` ways; norms and the router whole on every GPU. A dep rank holds its own copy."""
    embeddings = (1 if shape.tied_embeddings else 2) * math.ceil(shape.vocab / tensor_parallel) * shape.hidden
    norms = 2 * shape.hidden
    router = shape.hidden * shape.experts + shape.experts
    per_layer = attention_params_per_gpu(shape, tensor_parallel) + norms + router
    return BF16_BYTES * (embeddings + shape.layers * per_layer + shape.hidden)  # + the final norm


def expert_bytes(shape: ModelShape) -> float:
    """One expert of one layer: gate_up (hidden → 2×intermediate) and down (intermediate → hidden)
    weights in MXFP4, their biases in bf16."""
    weights = shape.hidden * 2 * shape.intermediate + shape.intermediate * shape.hidden
    biases = 2 * shape.intermediate + shape.hidden
    return weights * MXFP4_BYTES_PER_VALUE + biases * BF16_BYTES


def expert_bytes_per_gpu(shape: ModelShape, layout: Layout) -> int:
    """Expert parallel: whole experts over all the group's GPUs (the fullest GPU holds the ceiling);
    tensor parallel: every expert split `tensor_parallel` ways."""
    if layout.expert_parallel:
        return math.ceil(math.ceil(shape.experts / layout.gpus) * shape.layers * expert_bytes(shape))
    return math.ceil(shape.experts * shape.layers * expert_bytes(shape) / layout.tensor_parallel)


def weight_bytes_per_gpu(shape: ModelShape, layout: Layout) -> int:
    return non_expert_bytes_per_gpu(shape, layout.tensor_parallel) + expert_bytes_per_gpu(shape, layout)


def checkpoint_bytes(shape: ModelShape) -> int:
    """All the weights, as on one GPU (about the checkpoint's size on disk)."""
    return weight_bytes_per_gpu(shape, Layout())


def kv_budget_bytes(gpu_bytes: int, utilization: float, weight_bytes: int) -> int:
    """vLLM's KV cache on one GPU: its share of the memory less weights and everything else; negative
    when the weights do not fit."""
    return int(utilization * gpu_bytes) - weight_bytes - NON_KV_OVERHEAD_BYTES


def kv_heads_per_gpu(shape: ModelShape, tensor_parallel: int) -> int:
    return max(1, shape.kv_heads // tensor_parallel)  # past the KV heads vLLM replicates them


def kv_bytes_per_token(shape: ModelShape, tensor_parallel: int, kv_dtype: str, layers: int) -> int:
    """K and V of one token in `layers` layers, on one GPU of a rank."""
    return layers * 2 * kv_heads_per_gpu(shape, tensor_parallel) * shape.head_dim * KV_DTYPE_BYTES[kv_dtype]


def kv_tokens(shape: ModelShape, tensor_parallel: int, kv_dtype: str, budget_bytes: int) -> int:
    """Tokens of full-attention context one rank's cache holds: vLLM's layers share one pool of blocks,
    and the sliding-window layers take only a few blocks per sequence (`sequence_kv_bytes`)."""
    return max(0, budget_bytes) // kv_bytes_per_token(shape, tensor_parallel, kv_dtype, shape.full_attention_layers)


def vllm_logged_kv_tokens(shape: ModelShape, tensor_parallel: int, kv_dtype: str, budget_bytes: int) -> int:
    """What vLLM 0.26 logs as "GPU KV cache size: N tokens": blocks per KV-cache group, and gpt-oss's
    layers form two groups (full attention, sliding window) of equal size drawing on one pool, so the
    figure counts a token's bytes in every layer: half the full-attention tokens the pool holds."""
    return max(0, budget_bytes) // kv_bytes_per_token(shape, tensor_parallel, kv_dtype, shape.layers)


def sequence_kv_bytes(shape: ModelShape, tensor_parallel: int, kv_dtype: str, context: int) -> int:
    """One sequence of `context` tokens on one GPU of a rank: every token in the full-attention layers,
    the window and the block being written in the sliding-window ones."""
    sliding_tokens = min(context, shape.sliding_window + KV_BLOCK_TOKENS)
    return (context * kv_bytes_per_token(shape, tensor_parallel, kv_dtype, shape.full_attention_layers)
            + sliding_tokens * kv_bytes_per_token(shape, tensor_parallel, kv_dtype, shape.sliding_layers))
