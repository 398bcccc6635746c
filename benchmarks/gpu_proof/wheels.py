"""The wheels `gpu_proof.sh` needs on the GPU host beyond its image and the gpu-wheels bundle.

The host (KINDS.md of the device tool, `nvidia-h200`) has no package index: its python 3.12 holds the
packages in HOST_PACKAGES; /work/shared/tools/gpu-wheels brings vLLM 0.26, Ray 2.60 and what they
lack (its wheels.txt). This walks the project's runtime requirements (pyproject.toml, then each
requirement's own, read from this environment's installed metadata) and keeps what neither covers,
plus any host package that such a requirement needs at a version the host may not have (our gRPC
code is generated for grpcio >= 1.85.1 and protobuf >= 7.35). Versions are the ones installed here,
which the project is tested with.

    python benchmarks/gpu_proof/wheels.py plan                  # what would travel, and why
    python benchmarks/gpu_proof/wheels.py download .parts/extra  # cp312 manylinux x86_64 wheels
    python3 benchmarks/gpu_proof/wheels.py missing .parts/extra  # (on the host) those it lacks

Ray's `default` extra (its dashboard: aiohttp-cors, opencensus, py-spy...) is left out: `serve` starts
Ray without a dashboard and the project uses none of its APIs; Ray then runs as a minimal install.
"""

import argparse
import importlib.metadata as metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_LIST = Path("/work/shared/tools/gpu-wheels/wheels.txt")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64", "manylinux_2_28_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64", "manylinux1_x86_64")
TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "platform_machine": "x86_64",
          "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "extra": ""}
# The image's Python packages, as KINDS.md lists them (read on a machine running it, 2026-11-17).
HOST_PACKAGES = frozenset(canonicalize_name(n) for n in """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp""".split())


def bundle_packages(path: Path) -> frozenset[str]:
    """The distributions the gpu-wheels bundle installs (its wheels.txt: `name==version` lines)."""
    return frozenset(canonicalize_name(line.split("==")[0]) for line in path.read_text().split() if line.strip())


def project_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in pyproject["project"]["dependencies"]]


def plan(host: frozenset[str], bundle: frozenset[str]) -> dict[str, str]:
    """{distribution: why it must travel}: the project's requirements that neither the host nor the
    bundle has, walked through their own requirements; and host packages (whose versions are not
    known here) that such a travelling wheel needs at some version. Extras of what the host or the
    bundle has are not walked (ray[default]: see the module docstring)."""
    needed: dict[str, str] = {}
    pending = [(r, "pyproject.toml") for r in project_requirements()]
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate(TARGET) or name in needed or name in bundle:
            continue
        if name in host:
            if wanted_by != "pyproject.toml" and str(requirement.specifier):
                needed[name] = f"on the host at an unknown version; {wanted_by} needs {requirement.specifier}"
            continue
        needed[name] = f"required by {wanted_by}"
        pending += [(r, name) for r in _requires(name)]
    return needed


def _requires(name: str) -> list[Requirement]:
    """`name`'s requirements, without those of its extras (nothing here asks a dependency for one)."""
    out = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker and "extra" in str(requirement.marker):
            continue  # an extra nobody here asks for
        out.append(requirement)
    return out


def pinned(names) -> list[str]:
    """`name==version` as installed in this environment."""
    return [f"{name}=={metadata.version(name)}" for name in sorted(names)]


def download(dest: Path, pins: list[str]) -> None:
    """pip downloads each pin for cp312 manylinux x86_64 into `dest`, skipping those already there."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {(canonicalize_name(n), str(v)) for n, v, *_ in map(parse_wheel_filename, _wheel_names(dest))}
    todo = [p for p in pins if (canonicalize_name(p.split("==")[0]), p.split("==")[1]) not in have]
    if not todo:
        print(f"all {len(pins)} wheels already in {dest}")
        return
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(dest), *todo]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd, check=True)


def _wheel_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.whl"))


def missing(folder: Path) -> list[Path]:
    """The wheels in `folder` whose distribution this python lacks or has at a lower version."""
    out = []
    for wheel in sorted(folder.glob("*.whl")):
        name, version, *_ = parse_wheel_filename(wheel.name)
        try:
            if Version(metadata.version(name)) >= version:
                continue
        except metadata.PackageNotFoundError:
            pass
        out.append(wheel)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["plan", "download", "missing"])
    parser.add_argument("folder", nargs="?", type=Path, help="download: where to; missing: where the wheels are")
    parser.add_argument("--bundle-list", type=Path, default=BUNDLE_LIST, help="the gpu-wheels bundle's wheels.txt")
    args = parser.parse_args()
    if args.command == "missing":
        for wheel in missing(args.folder):
            print(wheel)
        return 0
    needed = plan(HOST_PACKAGES, bundle_packages(args.bundle_list))
    for pin in pinned(needed):
        print(f"{pin:<32} {needed[canonicalize_name(pin.split('==')[0])]}")
    if args.command == "download":
        if args.folder is None:
            parser.error("download needs a folder")
        download(args.folder, pinned(needed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
