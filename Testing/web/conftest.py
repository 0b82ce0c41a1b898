"""Fixtures for the web front door: a root folder holding the shipped demo sample (CT, classifier, card)."""

from __future__ import annotations

import shutil

import pytest
from helpers.paths import SAMPLES

DEMO_FILES = ("sample_ct.nrrd", "lesion_classifier.pt", "lesion_classifier.json")


@pytest.fixture
def demo_root(tmp_path):
    """A fresh root with the demo's volume, model and card (what `python -m SaliencyExplorerLib demo` uses)."""
    root = tmp_path / "root"
    root.mkdir()
    for name in DEMO_FILES:
        shutil.copy(SAMPLES / name, root / name)
    return root
