"""vLLM's `oss-shape-dummy` load format: random weights whose expert routing looks like a trained model's.

vLLM's own `dummy` format fills every float tensor uniformly in ±1e-3, with the same seed for every
tensor, and leaves integer tensors as created. For gpt-oss that means zero MXFP4 experts, RMSNorm
weights of 1e-3 that shrink the router's input a thousandfold, and a router bias (±1e-3) that outweighs
the router's product (~2e-5): nearly every token picks the same few experts (of 128, 8 ever chosen and
one of them by 98 % of tokens: tests/unit/replica/engines/test_shape_loader.py), so a large batch touches a
handful of experts instead of most of them and runs faster than the real model would. Here the tensors
are filled as a trained model's are distributed (`fill`), then vLLM packs them as usual.

vLLM builds the model in its engine-core (and worker) processes, not in the process that creates the
engine, so the loader is registered through vLLM's `vllm.general_plugins` entry point (pyproject.toml),
which vLLM loads in every process it starts; `register()` is that entry point.
"""

import logging
import zlib
from collections.abc import Iterable

import torch

from cluster.replica.engines.vllm_engine import SHAPE_LOAD_FORMAT

log = logging.getLogger(f"vllm.{__name__}")  # under vLLM's logger, which vLLM configures in its processes
_registered = False

STD = 0.02  # gpt-oss's initializer_range; also the scale of a trained model's dense weights
E8M0_BIAS = 127
SCALE_EXPONENTS = (-10, -6)  # MXFP4 block scales 2^-10 … 2^-6: random FP4 codes then have std ≈ 0.014
NORMS = ("input_layernorm", "post_attention_layernorm", "norm")
# With a quantized model vLLM gives each attention layer these, created at -1, "not in the checkpoint",
# which makes a quantized KV cache use 1.0; vLLM's dummy fill makes them ±1e-3.
KV_CACHE_SCALES = ("k_scale", "v_scale", "q_scale", "prob_scale")


def fill(named_tensors: Iterable[tuple[str, torch.Tensor]], seed: int = 0) -> int:
    """Fills vLLM's gpt-oss parameters in place, chosen by name and dtype; returns how many it filled.

    uint8 `*_scale`: E8M0 block exponents for 2^-10 … 2^-6; other uint8: MXFP4 codes, two per byte,
    every byte value alike; RMSNorm weights 1; attention sinks 0; router weight N(0, 0.02), bias 0;
    KV-cache scales -1 (absent: vLLM uses 1.0); every other float tensor N(0, 0.02). Other float scales,
    other integer tensors and tensors not yet materialised (meta) are left alone. Each tensor's numbers
    depend on its name and `seed` only, so every process and every tensor-parallel rank makes the same.
    """
    filled = 0
    with torch.no_grad():
        for name, tensor in named_tensors:
            if tensor.device.type == "meta":
                continue
            generator = torch.Generator(device=tensor.device)
            generator.manual_seed(zlib.crc32(name.encode()) ^ seed)  # hash() differs between processes
            filled += _fill_one(name, tensor, generator)
    return filled


def _fill_one(name: str, tensor: torch.Tensor, generator: torch.Generator) -> bool:
    module, _, kind = name.rpartition(".")
    if tensor.dtype == torch.uint8:
        if kind.endswith("_scale"):
            low, high = (E8M0_BIAS + e for e in SCALE_EXPONENTS)
            tensor.random_(low, high + 1, generator=generator)
        else:
            tensor.random_(0, 256, generator=generator)
        return True
    if not tensor.is_floating_point():
        return False
    if kind in KV_CACHE_SCALES:
        tensor.fill_(-1.0)
    elif kind.endswith("_scale"):  # another scheme's weight or activation scales: not gpt-oss's
        return False
    elif kind == "sinks":
        tensor.zero_()
    elif module.rpartition(".")[2] in NORMS:
        tensor.fill_(1.0)
    elif module.endswith(".router") and kind == "bias":
        tensor.zero_()
    elif tensor.element_size() >= 2:
        tensor.normal_(0.0, STD, generator=generator)
    else:  # fp8: normal_ has no kernel for it
        tensor.copy_(torch.empty(tensor.shape, device=tensor.device).normal_(0.0, STD, generator=generator))
    return True


def register() -> None:
    """The `vllm.general_plugins` entry point: registers the load format. vLLM may call it more than once
    in a process (and a caller may too); only the first call registers."""
    global _registered
    if _registered:
        return
    from vllm.model_executor.model_loader import register_model_loader

    register_model_loader(SHAPE_LOAD_FORMAT)(_loader_class())
    _registered = True


def _loader_class() -> type:
    from vllm.model_executor.model_loader import DummyModelLoader

    class ShapeDummyModelLoader(DummyModelLoader):
        """vLLM's dummy loader, then `fill` over the model's parameters, before vLLM packs them."""

        def load_weights(self, model, model_config) -> None:
            super().load_weights(model, model_config)
            count = fill(model.named_parameters())
            log.info("%s: filled %d tensors with realistic random weights", SHAPE_LOAD_FORMAT, count)

    return ShapeDummyModelLoader
