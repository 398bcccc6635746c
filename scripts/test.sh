#!/usr/bin/env bash
# Runs the test suite: unit tests, then end-to-end tests on the real stack (Ray, vLLM, tiny model).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -x`.
set -uo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
python -m pytest "${@:-tests}"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "oss-cluster: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
