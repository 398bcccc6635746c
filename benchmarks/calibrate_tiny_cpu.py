"""Calibration: measures vLLM offline on the embedded tiny model bound to one CPU core, and fits the
stand-in engine's `tiny-cpu` calibration to it (`cluster/replica/engines/simulated/fit.py`).

Each point is `requests` prompts of `prompt_tokens` (distinct, no shared prefix) submitted at once,
each generating exactly `output_tokens` (`ignore_eos`), with the engine arguments of the embedded
default; the median of `--runs` runs is kept. Run from the repository root, alone on the machine:

    .venv/bin/python benchmarks/calibrate_tiny_cpu.py            # measures, fits, writes the calibration
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace

POINTS = [(1, 128, 64), (4, 128, 64), (16, 128, 64), (16, 512, 64), (4, 1024, 64), (16, 1024, 32)]
NAME = "tiny-cpu"


def measure(args) -> tuple[list[dict], int, dict]:
    os.environ.update(VLLM_TARGET_DEVICE="cpu", VLLM_CPU_OMP_THREADS_BIND="0", VLLM_HOST_IP="127.0.0.1",
                      VLLM_NO_USAGE_STATS="1", HF_HUB_OFFLINE="1")
    from vllm import LLM, SamplingParams, TokensPrompt

    from cluster.cli import cache_dir
    from cluster.config import embedded_default
    from cluster.tinymodel import ensure_tiny_model

    model = ensure_tiny_model(cache_dir() / "models")
    e = embedded_default().engine
    began = time.perf_counter()
    llm = LLM(model=str(model), max_model_len=e.max_model_len, max_num_seqs=e.max_num_seqs,
              max_num_batched_tokens=e.max_num_batched_tokens, enforce_eager=True,
              kv_cache_memory_bytes=e.kv_cache_memory_bytes, enable_prefix_caching=True, seed=0)
    start_s = time.perf_counter() - began
    config = json.loads((model / "config.json").read_text())
    blocks = llm.llm_engine.vllm_config.cache_config.num_gpu_blocks
    block_size = llm.llm_engine.vllm_config.cache_config.block_size
    rng = random.Random(0)
    rows = []
    for requests, prompt, output in POINTS:
        rates = []
        for run in range(args.runs):
            prompts = [TokensPrompt(prompt_token_ids=[rng.randrange(1000, 190_000) for _ in range(prompt)])
                       for _ in range(requests)]
            params = SamplingParams(max_tokens=output, min_tokens=output, ignore_eos=True, temperature=1.0)
            began = time.perf_counter()
            outputs = llm.generate(prompts, params, use_tqdm=False)
            wall = time.perf_counter() - began
            tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
            rates.append(tokens / wall)
        row = dict(requests=requests, prompt_tokens=prompt, output_tokens=output,
                   output_tokens_per_s=round(statistics.median(rates), 2), kv_cache_dtype="bf16",
                   max_num_seqs=e.max_num_seqs, max_num_batched_tokens=e.max_num_batched_tokens,
                   runs=[round(r, 2) for r in rates])
        print(f"{requests:>3} × {prompt:>5} → {output:>3}: {row['output_tokens_per_s']:.1f} tok/s "
              f"(runs {', '.join(f'{r:.1f}' for r in rates)})", flush=True)
        rows.append(row)
    return rows, blocks * block_size, {"experts": config["num_local_experts"], "start_s": round(start_s, 1),
                                       "experts_per_token": config["num_experts_per_tok"], "block_size": block_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per point; the median is kept")
    args = parser.parse_args()
    from cluster.replica.engines.simulated.fit import fit, points_of, report
    from cluster.replica.engines.simulated.timing import CALIBRATIONS, Calibration

    rows, kv_tokens, shape = measure(args)
    calibration = Calibration(
        name=NAME, base_s=0, expert_load_s=0, per_prefill_token_s=0, per_decode_seq_s=0, per_context_token_s=0,
        kv_cache_tokens={"bf16": kv_tokens}, **shape,
        source=(f"vLLM (vllm-cpu) offline on the embedded tiny model (trained), one core of this machine "
                f"({os.cpu_count()} cores), the embedded default's engine arguments, "
                f"{time.strftime('%Y-%m-%d')}; `benchmarks/calibrate_tiny_cpu.py`"))
    fitted = fit(points_of(rows), calibration)
    fitted = replace(fitted, points=[{**p, "runs": r["runs"]} for p, r in zip(fitted.points, rows)])
    print(report(fitted))
    path = CALIBRATIONS / f"{NAME}.json"
    path.write_text(fitted.to_json())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
