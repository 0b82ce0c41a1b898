#!/usr/bin/env bash
# Regenerates Resources/Screenshots/web.png (the README's picture of the web front door): the browser test's
# link run (Testing/web/test_app.py, run=1 on the demo sample), shot by chromium through Playwright.
set -euo pipefail
cd "$(dirname "$0")/.."
SALIENCY_WEB_SCREENSHOT="$PWD/Resources/Screenshots/web.png" OMP_WAIT_POLICY=PASSIVE \
  "${PYTHON:-.venv/bin/python}" -m pytest -q Testing/web/test_app.py -k "link_with_run"
ls -l Resources/Screenshots/web.png
