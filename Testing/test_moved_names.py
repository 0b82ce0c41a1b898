"""Names the release before the re-layering documented still work: its batch script runs unchanged, and each
moved module imports under its old name (every import form) with a DeprecationWarning naming the new place."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings

import pytest
import SaliencyExplorerLib
import SimpleITK as sitk
from helpers.paths import ROOT
from helpers.slicer_models import bright_spot_file
from helpers.slicer_scene import LESION_LPS, LESION_RADIUS_MM, OBLIQUE
from SaliencyExplorerLib.demo import phantoms

OLD_SCRIPT = ROOT / "Testing" / "helpers" / "release_batch_explain.py"


@pytest.mark.parametrize("old", sorted(SaliencyExplorerLib._MOVED))
def test_old_module_name_warns_and_is_the_new_module(old):
    sys.modules.pop(f"SaliencyExplorerLib.{old}", None)
    new = importlib.import_module(f"SaliencyExplorerLib.{SaliencyExplorerLib._MOVED[old]}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alias = importlib.import_module(f"SaliencyExplorerLib.{old}")
    assert any(
        issubclass(w.category, DeprecationWarning) and SaliencyExplorerLib._MOVED[old] in str(w.message) for w in caught
    )
    for name in alias.__all__:
        assert getattr(alias, name) is getattr(new, name)


def test_documented_old_calls():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from SaliencyExplorerLib import figures, slicer_session
        from SaliencyExplorerLib.imageio import read_image
        from SaliencyExplorerLib.scene_metrics import evaluation_of
    from SaliencyExplorerLib.mrml import evaluation_nodes, module_logics
    from SaliencyExplorerLib.volumes import image_files

    assert slicer_session.start_headless is module_logics.start_headless
    assert evaluation_of is evaluation_nodes.evaluation_of and read_image is image_files.read_image
    assert callable(figures.save_png) and callable(figures.montage) and callable(figures.save_gif)
    with pytest.raises(ImportError):
        importlib.import_module("SaliencyExplorerLib.no_such_module")


def test_last_release_batch_script_runs(tmp_path):
    pytest.importorskip("slicer")
    inputs = tmp_path / "in"
    inputs.mkdir()
    image, _ = phantoms.make_phantom(
        size=OBLIQUE["size"],
        spacing=OBLIQUE["spacing"],
        direction=phantoms.rotation_direction(OBLIQUE["angles"]),
        lesion_center_lps=LESION_LPS,
        lesion_radius_mm=LESION_RADIUS_MM,
    )
    sitk.WriteImage(image, str(inputs / "oblique.nrrd"))
    model = bright_spot_file(tmp_path)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    result = subprocess.run(
        [sys.executable, str(OLD_SCRIPT), str(inputs), str(tmp_path / "out"), "--model", str(model), "--layer", "conv"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary) == 1 and "error" not in summary[0] and summary[0]["method"] == "gradcam"
    assert sitk.ReadImage(summary[0]["output"]).GetSize() == image.GetSize()
