"""The GPU proof's one JSON and its table, from what gpu_proof.sh left in its work folder.

Per side (`ours`: the whole stack; `bare`: `vllm serve`): how its start went (the script's time to
ready, and vLLM's own lines: model loading, torch.compile, engine initialisation), the KV-cache tokens
vLLM allocated, the prompt tokens it counted for the load test's prompt, and per concurrency the
load-test tool's figures. Ratios are ours / bare: above 1 for throughput and below 1 for latency favour
ours. A side or a step that did not run is absent, never zero.
"""

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import write_results  # noqa: E402

SIDES = {"ours": "our stack (HTTP gateway, Ray replica, vLLM)", "bare": "bare vllm serve"}
# vLLM's log lines (vllm/v1/core/kv_cache_utils.py, v1/engine/core.py, the model runners); each optional
LOG_FIGURES = {
    "kv_cache_tokens": (r"\b\w+ KV cache size: ([\d,]+) tokens", lambda m: int(m.replace(",", ""))),
    "serve_ready_in_s": (r"oss-cluster: ready in ([\d.]+) s", float),
    "model_loading_s": (r"Model loading took .*?([\d.]+) seconds", float),
    "torch_compile_s": (r"torch\.compile takes? ([\d.]+) s in total", float),
    "cuda_graphs_s": (r"Graph capturing finished in ([\d.]+) secs", float),
    "engine_init_s": (r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+)", float),
}
START_LABELS = {"serve_ready_in_s": "serve's own ready", "model_loading_s": "model loading",
                "torch_compile_s": "torch.compile", "cuda_graphs_s": "CUDA graphs", "engine_init_s": "engine init"}
STEP_KEYS = ("requests", "succeeded", "error_rate", "errors_by_code", "wall_s", "requests_per_s",
             "output_tokens_per_s", "finish_reasons")
RATIO_KEYS = {"output_tokens_per_s": ("output_tokens_per_s",), "ttft_p50_ms": ("ttft_ms", "p50"),
              "ttft_p99_ms": ("ttft_ms", "p99"), "itl_p50_ms": ("inter_token_ms", "p50")}


def log_figures(text: str) -> dict:
    out = {}
    for key, (pattern, convert) in LOG_FIGURES.items():
        match = re.search(pattern, text)
        if match:
            out[key] = convert(match.group(1))
    return out


def step(results_file: Path) -> dict:
    results = json.loads(results_file.read_text())
    summary = results["summary"]
    out = {key: summary[key] for key in STEP_KEYS}
    for key, name in (("ttft_s", "ttft_ms"), ("inter_token_s", "inter_token_ms"), ("e2e_s", "e2e_ms")):
        out[name] = {p: None if summary[key][p] is None else summary[key][p] * 1000 for p in ("p50", "p90", "p99")}
    out["output_tokens_per_request"] = {p: summary["output_tokens"][p] for p in ("p50", "mean")}
    out["interrupted"] = results["interrupted"]
    timing = results_file.parent.with_suffix(".time")  # bash's `time` of the client: user, system, real seconds
    words = timing.read_text().split() if timing.is_file() else []
    if len(words) == 3:
        user, system, real = map(float, words)
        out["client"] = {"cpu_s": user + system, "wall_s": real, "note": "the load-test process, start-up included"}
    return out


def side(folder: Path, concurrency: list[int]) -> dict:
    out: dict = {"what": SIDES[folder.name]}
    for name, key in (("command.txt", "command"), ("cluster.yaml", "config")):
        if (folder / name).is_file():
            out[key] = (folder / name).read_text().strip()
    if (folder / "start.json").is_file():
        out["start"] = json.loads((folder / "start.json").read_text())
    else:
        out["error"] = "did not start"
    log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").is_file() else ""
    figures = log_figures(log)
    out["kv_cache_tokens"] = figures.pop("kv_cache_tokens", None)
    out.setdefault("start", {}).update(figures)
    tokens = (folder / "prompt_tokens").read_text().strip() if (folder / "prompt_tokens").is_file() else ""
    out["prompt_tokens"] = int(tokens) if tokens.isdigit() else None
    out["steps"] = {str(c): step(folder / f"c{c}" / "results.json") for c in concurrency
                    if (folder / f"c{c}" / "results.json").is_file()}
    return out


def ratios(ours: dict, bare: dict) -> dict:
    out = {}
    for c in ours["steps"].keys() & bare["steps"].keys():
        figures = {}
        for name, path in RATIO_KEYS.items():
            a, b = _get(ours["steps"][c], path), _get(bare["steps"][c], path)
            figures[name] = a / b if a is not None and b else None
        out[c] = figures
    return dict(sorted(out.items(), key=lambda item: int(item[0])))


def _get(figures: dict, path: tuple):
    for key in path:
        figures = figures.get(key) if isinstance(figures, dict) else None
    return figures


def table(report: dict) -> str:
    sides = report["sides"]
    host = report["host"]
    gpu = ", ".join(g["name"] for g in host.get("gpus", [])) or f"no GPU ({host['cpus']} CPUs)"
    w = report["workload"]
    caveat = " (a CPU rehearsal, not a GPU result)" if report["mode"] != "gpu" else ""
    lines = [f"GPU proof, {report['mode']}{caveat}: {gpu}; prompts {w['prompt_tokens']} words, "
             f"output {w['output_tokens']}; {report['api']}"]
    for name, s in sides.items():
        start = s.get("start", {})
        parts = [f"ready after {start['ready_after_s']:.1f} s" if "ready_after_s" in start else "did not start"]
        parts += [f"{label} {start[key]:.1f} s" for key, label in START_LABELS.items() if key in start]
        if s.get("kv_cache_tokens") is not None:
            parts.append(f"KV cache {s['kv_cache_tokens']:,} tokens")
        if s.get("prompt_tokens") is not None:
            parts.append(f"prompt {s['prompt_tokens']} tokens")
        lines.append(f"{name:<5} {'; '.join(parts)}")
    lines.append(f"{'conc':>5} {'requests':>9} | {'output tok/s':^24} | {'TTFT p50 ms':^24} | {'TTFT p99 ms':^24}")
    lines.append(f"{'':>5} {'ours/bare':>9} | " + " | ".join([f"{'ours':>7} {'bare':>7} {'ratio':>7}"] * 3))
    for c in report["workload"]["concurrency"]:
        ours, bare = (sides.get(name, {}).get("steps", {}).get(str(c)) for name in ("ours", "bare"))
        ratio = report["ratios"].get(str(c), {})
        counts = "/".join("-" if s is None else str(s["succeeded"]) for s in (ours, bare))
        cells = []
        for name, path in (("output_tokens_per_s", ("output_tokens_per_s",)), ("ttft_p50_ms", ("ttft_ms", "p50")),
                           ("ttft_p99_ms", ("ttft_ms", "p99"))):
            a, b = (None if s is None else _get(s, path) for s in (ours, bare))
            cells.append(f"{_num(a):>7} {_num(b):>7} {_num(ratio.get(name), 2):>7}")
        lines.append(f"{c:>5} {counts:>9} | " + " | ".join(cells))
    for name, s in sides.items():  # a client near 100 % of a core limited the step, not the server
        busy = [f"{c}: {st['client']['cpu_s']:.1f}/{st['client']['wall_s']:.1f}"
                for c, st in s.get("steps", {}).items() if "client" in st]
        if busy:
            lines.append(f"load-test client of {name}, CPU / wall s per step (start-up included): {', '.join(busy)}")
    return "\n".join(lines)


def _num(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", choices=["gpu", "cpu"], required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--load-format", required=True)
    parser.add_argument("--concurrency", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--prompt-tokens", type=int, required=True)
    parser.add_argument("--output-tokens", required=True)
    parser.add_argument("--step-duration", type=float, required=True)
    parser.add_argument("--warm-caches", type=int, default=0)
    parser.add_argument("--earlier", type=Path, help="an earlier run's JSON: sides missing here are taken from it")
    args = parser.parse_args()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    preflight = json.loads((args.work / "preflight.json").read_text())
    sides = {name: side(args.work / name, concurrency) for name in SIDES if (args.work / name).is_dir()}
    if args.earlier:
        sides = json.loads(args.earlier.read_text())["sides"] | sides
    model_config = json.loads((Path(args.model) / "config.json").read_text())
    report = {
        "mode": "gpu" if args.mode == "gpu" else "cpu-rehearsal",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": preflight["host"], "versions": preflight["versions"],
        "api": "HTTP /v1/completions, streamed, ignore_eos; the same load-test client and seed on both sides",
        "workload": {"concurrency": concurrency, "requests": [int(n) for n in args.requests.split(",")],
                     "prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens,
                     "step_duration_s": args.step_duration, "pattern": "closed loop (concurrency)", "seed": 0},
        "model": {"path": args.model, "load_format": args.load_format,
                  "shape": model_config.get("oss_cluster_shape_model"),
                  "layers": model_config.get("num_hidden_layers"), "experts": model_config.get("num_local_experts"),
                  "hidden": model_config.get("hidden_size"),
                  "quantization": (model_config.get("quantization_config") or {}).get("quant_method")},
        "compile_caches": "the second side reuses the first one's" if args.warm_caches else "each side starts cold",
        "sides": sides,
        "ratios": ratios(sides["ours"], sides["bare"]) if len(sides) == 2 else {},
    }
    print(table(report))
    write_results(args, "gpu_proof", config={"work": str(args.work)}, **report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
