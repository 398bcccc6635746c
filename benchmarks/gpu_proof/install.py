"""Installs what travelled to the GPU host into this python, for gpu_proof.sh --install DIR.

    python3 benchmarks/gpu_proof/install.py DIR --site WORK/site

- DIR/gpu-wheels: the gpu-wheels tool's install.sh beside the parts its build.py made (vLLM 0.26,
  Ray 2.60 and what they need); install.sh joins, checks and installs them.
- DIR/extra: the wheels `wheels.py download` fetched; only those this python lacks, or has at a
  lower version, are installed, so a host that already has a newer grpcio keeps it.
- The project: `pip install --no-deps --no-index --no-build-isolation -e .`. Where that fails (no
  usable setuptools), the project runs by path instead: a dist-info folder in --site carries its
  entry points (vLLM finds the `oss-shape-dummy` loader through one), and this prints the
  PYTHONPATH entries to use, `ROOT:SITE`. Prints nothing to stdout when pip installed it.
"""

import argparse
import importlib.metadata as metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from wheels import missing

ROOT = Path(__file__).resolve().parents[2]


def pip_install(*args: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                           *args], stdout=sys.stderr)
    return done.returncode == 0


def install_bundle(folder: Path) -> None:
    """Runs the bundle's install.sh, unless this python has vLLM already (a second call on the same host)."""
    try:
        print(f"install.py: vllm {metadata.version('vllm')} is installed already; the bundle is not", file=sys.stderr)
        return
    except metadata.PackageNotFoundError:
        pass
    script = folder / "install.sh"
    if not script.is_file():
        raise SystemExit(f"install.py: {folder} has parts but no install.sh: copy the gpu-wheels tool beside them")
    subprocess.run(["bash", str(script), str(folder)], check=True, stdout=sys.stderr)


def write_dist_info(site: Path) -> Path:
    """A minimal installed-distribution record of the project: its name, version and entry points."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()))
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--site", type=Path, required=True, help="where the by-path fallback's dist-info goes")
    parser.add_argument("--by-path", action="store_true", help="skip pip for the project (the fallback, at once)")
    args = parser.parse_args()
    if any((args.folder / "gpu-wheels").glob("part*")):
        install_bundle(args.folder / "gpu-wheels")
    extra = missing(args.folder / "extra") if (args.folder / "extra").is_dir() else []
    if extra and not pip_install(*map(str, extra)):
        raise SystemExit("install.py: installing the extra wheels failed")
    if not args.by_path and pip_install("--no-build-isolation", "-e", str(ROOT)):
        return 0
    print(f"install.py: running the project by path, entry points in {write_dist_info(args.site)}", file=sys.stderr)
    print(f"{ROOT}:{args.site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
