#!/usr/bin/env bash
# The project's test command: sets up .venv with the test and web extras (web: trame-slicer for Testing/web/), then lints (ruff check), checks the
# formatting (ruff format --check; fix with `.venv/bin/ruff format .`) and runs the whole pytest suite.
# Arguments go to pytest (e.g. `bash scripts/test.sh Testing/figures -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test,web
.venv/bin/ruff check .
.venv/bin/ruff format --check .
export OMP_WAIT_POLICY=PASSIVE
exec .venv/bin/python -m pytest -q "$@"
