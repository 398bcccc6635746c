"""Rendering the chart with the real helm binary (scripts/fetch_helm.py puts it in the venv)."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "oss-cluster"
HELM = Path(sys.prefix) / "bin" / "helm"
EXAMPLES = {"default": [], "cpu": ["-f", str(CHART / "examples" / "values-cpu.yaml")],
            "gpt-oss-120b": ["-f", str(CHART / "examples" / "values-gpt-oss-120b.yaml")]}
# The Prometheus Operator's kinds, as a cluster that has its CRDs announces them.
OPERATOR_APIS = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
                 "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)


def render(*args: str) -> list[dict]:
    """`helm template` of the chart as release "rel" in namespace "serving": its objects."""
    done = helm("template", "rel", str(CHART), "--namespace", "serving", *args)
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: list[dict], kind: str, name_suffix: str) -> dict:
    (found,) = [o for name, o in by_kind(objects, kind).items() if name.endswith(name_suffix)]
    return found
