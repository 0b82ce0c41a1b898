#!/usr/bin/env bash
# The project's test command: sets up .venv with the test extras, then runs the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test
export OMP_WAIT_POLICY=PASSIVE
exec .venv/bin/python -m pytest -q "$@"
