"""Where the repository's files are, independent of how deep a test file sits in ``Testing/``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (Testing/helpers/paths.py -> ../..)
SAMPLES = ROOT / "Resources" / "Samples"  # the shipped sample CT and demo model
