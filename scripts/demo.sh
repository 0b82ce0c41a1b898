#!/usr/bin/env bash
# The main job: set up .venv (figures, and dask for `compare --cases`) and explain the embedded sample
# volume with the embedded demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh figures,cohort
export OMP_WAIT_POLICY=PASSIVE
exec .venv/bin/python -m SaliencyExplorerLib demo --output-dir "${1:-demo-output}"
