"""The `oss-shape-dummy` fill, on plain tensors named and typed as vLLM creates gpt-oss's parameters."""

import torch

from cluster.replica.engines.shape_loader import fill

HIDDEN, EXPERTS, TOP_K = 2880, 128, 4  # gpt-oss-120b
TOKENS = 4096
UNIFORM = TOKENS * TOP_K / EXPERTS  # choices per expert if routing were even


def mxfp4_layer(hidden=64, intermediate=64, experts=4, heads=8, kv_heads=1, head_dim=64) -> dict:
    """Layer 0 of an MXFP4 gpt-oss as vLLM 0.26 and 0.32 create it (zeros; `attn.attn.*_scale` exist with a
    quantized model), and the model's final norm."""
    def bf16(*shape):
        return torch.zeros(*shape, dtype=torch.bfloat16)

    def u8(*shape):
        return torch.zeros(*shape, dtype=torch.uint8)

    p = "model.layers.0."
    return {
        "model.norm.weight": bf16(hidden),
        p + "input_layernorm.weight": bf16(hidden), p + "post_attention_layernorm.weight": bf16(hidden),
        p + "attn.sinks": bf16(heads), p + "attn.qkv_proj.weight": bf16((heads + 2 * kv_heads) * head_dim, hidden),
        p + "attn.qkv_proj.bias": bf16((heads + 2 * kv_heads) * head_dim),
        p + "attn.attn.k_scale": torch.tensor(-1.0), p + "attn.attn.v_scale": torch.tensor(-1.0),
        p + "mlp.router.weight": bf16(experts, hidden), p + "mlp.router.bias": bf16(experts),
        p + "mlp.experts.w13_weight": u8(experts, 2 * intermediate, hidden // 2),
        p + "mlp.experts.w13_weight_scale": u8(experts, 2 * intermediate, hidden // 32),
        p + "mlp.experts.w13_bias": bf16(experts, 2 * intermediate),
        p + "mlp.experts.w2_weight": u8(experts, hidden, intermediate // 2),
        p + "mlp.experts.w2_weight_scale": u8(experts, hidden, intermediate // 32),
    }


def test_fp4_codes_use_every_byte_and_scales_stay_in_2_to_the_minus_10_to_minus_6():
    layer = mxfp4_layer(hidden=256, intermediate=256, experts=8)
    assert fill(layer.items()) == len(layer)
    for name in ("w13_weight", "w2_weight"):
        counts = torch.bincount(layer[f"model.layers.0.mlp.experts.{name}"].flatten().long(), minlength=256)
        assert counts.min() > 0.7 * counts.float().mean() and counts.max() < 1.3 * counts.float().mean(), name
    for name in ("w13_weight_scale", "w2_weight_scale"):
        values = set(layer[f"model.layers.0.mlp.experts.{name}"].unique().tolist())
        assert values == {117, 118, 119, 120, 121}, name


def test_norms_are_one_sinks_and_router_bias_zero_kv_scales_absent_the_rest_small():
    layer = mxfp4_layer()
    fill(layer.items())
    for name in ("model.norm.weight", "model.layers.0.input_layernorm.weight",
                 "model.layers.0.post_attention_layernorm.weight"):
        assert torch.all(layer[name] == 1), name
    assert torch.all(layer["model.layers.0.attn.sinks"] == 0)
    assert torch.all(layer["model.layers.0.mlp.router.bias"] == 0)
    assert layer["model.layers.0.attn.attn.k_scale"].item() == layer["model.layers.0.attn.attn.v_scale"].item() == -1
    for name in ("attn.qkv_proj.weight", "attn.qkv_proj.bias", "mlp.experts.w13_bias"):
        assert abs(layer[f"model.layers.0.{name}"].float().std().item() - 0.02) < 0.004, name


def test_the_numbers_depend_on_the_name_only():
    first, second = mxfp4_layer(), mxfp4_layer()
    fill(first.items())
    fill(second.items())
    assert all(torch.equal(first[name], second[name]) for name in first)
    w13, w2 = first["model.layers.0.mlp.experts.w13_weight"], first["model.layers.0.mlp.experts.w2_weight"]
    assert not torch.equal(w13.flatten()[:1000], w2.flatten()[:1000])


def test_other_integers_and_unmaterialised_tensors_are_left_alone():
    ids, meta = torch.arange(10, dtype=torch.int32), torch.empty(4, 4, device="meta")
    assert fill([("model.layers.0.mlp.experts.expert_map", ids), ("model.layers.0.attn.o_proj.weight", meta)]) == 0
    assert torch.equal(ids, torch.arange(10, dtype=torch.int32))


def top_k_counts(logits: torch.Tensor) -> torch.Tensor:
    return torch.bincount(logits.topk(TOP_K, dim=-1).indices.flatten(), minlength=EXPERTS)


def router_input() -> torch.Tensor:
    """The router's input: the post-attention RMSNorm's, before its weight, of unit RMS per token."""
    x = torch.randn(TOKENS, HIDDEN, generator=torch.Generator().manual_seed(7))
    return x / x.pow(2).mean(-1, keepdim=True).sqrt()


def vllm_dummy(*shape) -> torch.Tensor:
    """What vLLM's `dummy` load format puts in a bf16 tensor (`initialize_single_dummy_weight`: uniform in
    ±1e-3 from seed 1234, the same seed for every tensor)."""
    generator = torch.Generator().manual_seed(1234)
    return torch.empty(*shape, dtype=torch.bfloat16).uniform_(-1e-3, 1e-3, generator=generator)


def test_filled_routers_spread_tokens_over_all_experts_where_vllms_dummy_picks_a_few():
    router = {"model.layers.0.mlp.router.weight": torch.zeros(EXPERTS, HIDDEN, dtype=torch.bfloat16),
              "model.layers.0.mlp.router.bias": torch.zeros(EXPERTS, dtype=torch.bfloat16),
              "model.layers.0.post_attention_layernorm.weight": torch.zeros(HIDDEN, dtype=torch.bfloat16)}
    fill(router.items())
    weight, bias = router["model.layers.0.mlp.router.weight"], router["model.layers.0.mlp.router.bias"]
    assert abs(weight.float().std().item() - 0.02) < 0.0005 and abs(weight.float().mean().item()) < 0.0005
    x = router_input()
    ours = top_k_counts((x * router["model.layers.0.post_attention_layernorm.weight"].float())
                        @ weight.float().T + bias.float())
    theirs = top_k_counts((x * vllm_dummy(HIDDEN).float()) @ vllm_dummy(EXPERTS, HIDDEN).float().T
                          + vllm_dummy(EXPERTS).float())
    # Measured: ours 128 experts, the busiest at 1.26× an even share; vLLM's 8 experts, the busiest at 31×
    # (its bias, ±1e-3, outweighs a product shrunk by the ±1e-3 norm weight: ~2e-5).
    assert (ours > 0).sum() == EXPERTS and ours.max() < 3 * UNIFORM
    assert (theirs > 0).sum() <= 16 and theirs.max() > 10 * UNIFORM
