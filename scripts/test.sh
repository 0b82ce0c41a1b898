#!/usr/bin/env bash
# The project's test command: sets up .venv with the test and web extras, then runs the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test,web  # web: trame-slicer and playwright for Testing/web/ (browser tests)
export OMP_WAIT_POLICY=PASSIVE
exec .venv/bin/python -m pytest -q "$@"
