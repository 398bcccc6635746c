"""The memory model against what is known of gpt-oss on vLLM 0.26 (docs/capacity.md, "Planning GPUs")."""

import pytest

from cluster.config import Layout
from cluster.planner import memory
from cluster.planner.gpus import gpu_memory_bytes
from tests.unit.planner.factories import shape

H100 = gpu_memory_bytes("H100-80GB")
# vLLM 0.26.0, gpt-oss-120b tp1 on one H100 80GB: (gpu_memory_utilization, KV dtype, "GPU KV cache size" logged)
CALIBRATION = [(0.92, "bf16", 131_024), (0.95, "fp8", 330_261)]
TOLERANCE = 0.01


def test_the_checkpoints_weigh_what_they_do_on_disk():
    assert memory.checkpoint_bytes(shape("gpt-oss-120b")) == pytest.approx(65.3e9, rel=0.02)  # 61 GiB
    assert memory.checkpoint_bytes(shape("gpt-oss-20b")) == pytest.approx(13 * memory.GIB, rel=0.03)


def test_one_token_of_120b_takes_36_kib_in_the_full_attention_layers():
    assert memory.kv_bytes_per_token(shape(), 1, "bf16", shape().full_attention_layers) == 36 * 1024
    assert memory.kv_bytes_per_token(shape(), 8, "fp8", shape().full_attention_layers) == 36 * 1024 // 16
    assert memory.kv_heads_per_gpu(shape(), 8) == 1


@pytest.mark.parametrize("utilization, kv_dtype, logged", CALIBRATION)
def test_the_planner_reproduces_vllms_kv_cache_on_one_h100(utilization, kv_dtype, logged):
    budget = memory.kv_budget_bytes(H100, utilization, memory.checkpoint_bytes(shape()))
    predicted = memory.vllm_logged_kv_tokens(shape(), 1, kv_dtype, budget)
    error = predicted / logged - 1
    print(f"{kv_dtype} at {utilization}: vLLM logged {logged:,}, the planner {predicted:,}: {error:+.2%}")
    assert abs(error) < TOLERANCE
    assert memory.kv_tokens(shape(), 1, kv_dtype, budget) == pytest.approx(2 * predicted, abs=1)


def test_one_overhead_fits_both_points_only_if_vllm_counts_a_token_in_every_layer():
    """Read as full-attention tokens the two points ask for overheads 1.3e9 bytes apart; read as vLLM
    0.26's per-group count (every layer's bytes per token), within 0.04e9 bytes."""
    def overheads(layers: int) -> list[int]:
        weights = memory.checkpoint_bytes(shape())
        return [int(u * H100) - weights - logged * memory.kv_bytes_per_token(shape(), 1, d, layers)
                for u, d, logged in CALIBRATION]

    per_group, full_only = overheads(shape().layers), overheads(shape().full_attention_layers)
    assert abs(per_group[0] - per_group[1]) < 0.05e9
    assert abs(full_only[0] - full_only[1]) > 1e9
    assert memory.NON_KV_OVERHEAD_BYTES == pytest.approx(sum(per_group) / 2, rel=0.01)


def test_expert_parallel_leaves_each_gpu_more_kv_cache_than_tensor_parallel_over_as_many():
    tp1, dep4, tp4 = (memory.weight_bytes_per_gpu(shape(), layout) for layout in (Layout(1, 1), Layout(4, 1),
                                                                                  Layout(1, 4)))
    assert tp1 > dep4 > tp4  # dep ranks each hold all of the attention and embeddings
    assert memory.expert_bytes_per_gpu(shape(), Layout(4, 1)) == memory.expert_bytes_per_gpu(shape(), Layout(1, 4))
    assert memory.expert_bytes_per_gpu(shape(), Layout(4, 2)) * 8 == pytest.approx(
        memory.expert_bytes_per_gpu(shape(), Layout()), rel=1e-6)


def test_a_sequence_holds_its_whole_context_in_full_attention_and_a_window_in_the_rest():
    per_token = memory.kv_bytes_per_token(shape(), 1, "bf16", 18)
    assert memory.sequence_kv_bytes(shape(), 1, "bf16", 8192) == (8192 + 128 + 16) * per_token
    assert memory.sequence_kv_bytes(shape(), 1, "bf16", 100) == 200 * per_token


def test_weights_that_do_not_fit_leave_a_negative_budget():
    assert memory.kv_budget_bytes(H100, 0.75, memory.checkpoint_bytes(shape())) < 0
