"""examples/batch_explain.py end to end, as a user runs it: a folder of volumes -> heatmaps + summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.paths import ROOT, SAMPLES
from helpers.slicer_models import bright_spot_file
from helpers.slicer_scene import LESION_LPS, LESION_RADIUS_MM, OBLIQUE
from SaliencyExplorerLib.demo import phantoms

SCRIPT = ROOT / "examples" / "batch_explain.py"


def _run(*args, timeout=180):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=env,
    )


def test_batch_folder_to_heatmaps(tmp_path):
    pytest.importorskip("slicer")
    inputs = tmp_path / "in"
    inputs.mkdir()
    images = {}
    for name, angles, ext in (("oblique", OBLIQUE["angles"], ".nrrd"), ("straight", (0, 0, 0), ".nii.gz")):
        image, _ = phantoms.make_phantom(
            size=OBLIQUE["size"],
            spacing=OBLIQUE["spacing"],
            direction=phantoms.rotation_direction(angles),
            lesion_center_lps=LESION_LPS,
            lesion_radius_mm=LESION_RADIUS_MM,
        )
        sitk.WriteImage(image, str(inputs / f"{name}{ext}"))
        images[name] = image
    (inputs / "notes.txt").write_text("not a volume")
    model = bright_spot_file(tmp_path)
    result = _run(inputs, tmp_path / "out", "--model", model, "--layer", "conv", "--scene", tmp_path / "all.mrb")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [Path(r["input"]).name for r in summary] == ["oblique.nrrd", "straight.nii.gz"]
    assert (tmp_path / "all.mrb").stat().st_size > 1000
    for record in summary:
        name = Path(record["input"]).name.split(".")[0]
        heat = sitk.ReadImage(record["output"])
        source = images[name]
        assert heat.GetSize() == source.GetSize()
        assert np.allclose(heat.GetOrigin(), source.GetOrigin(), atol=1e-6)
        assert np.allclose(heat.GetDirection(), source.GetDirection(), atol=1e-6)
        assert np.allclose(heat.GetSpacing(), source.GetSpacing(), atol=1e-6)
        array = sitk.GetArrayFromImage(heat)
        peak = heat.TransformIndexToPhysicalPoint([int(v) for v in np.unravel_index(array.argmax(), array.shape)[::-1]])
        assert np.linalg.norm(np.array(peak) - LESION_LPS) < LESION_RADIUS_MM
        assert record["method"] == "gradcam" and record["modelSHA256"]


def test_batch_bad_folder_and_bad_model_fail_clearly(tmp_path):
    pytest.importorskip("slicer")
    empty = _run(tmp_path, tmp_path / "out", "--model", tmp_path / "m.pt")
    assert empty.returncode == 1 and "no volumes" in empty.stderr
    image, _ = phantoms.make_phantom(size=(12, 12, 6))
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    missing = _run(tmp_path, tmp_path / "out", "--model", tmp_path / "missing.pt")
    assert missing.returncode == 1 and "missing.pt" in missing.stderr
    assert "error" in json.loads((tmp_path / "out" / "summary.json").read_text())[0]


def test_batch_damaged_file_is_one_failed_record(tmp_path):
    """A file with a volume's name that SimpleITK cannot read fails alone; the other volumes still run."""
    pytest.importorskip("slicer")
    inputs = tmp_path / "in"
    inputs.mkdir()
    image, _ = phantoms.make_phantom(
        size=OBLIQUE["size"],
        spacing=OBLIQUE["spacing"],
        lesion_center_lps=LESION_LPS,
        lesion_radius_mm=LESION_RADIUS_MM,
    )
    sitk.WriteImage(image, str(inputs / "good.nrrd"))
    (inputs / "broken.nrrd").write_text("NRRD0004\nthis is not a header\n")
    result = _run(inputs, tmp_path / "out", "--model", bright_spot_file(tmp_path), "--layer", "conv")
    assert result.returncode == 1, result.stderr[-2000:]
    records = {Path(r["input"]).name: r for r in json.loads((tmp_path / "out" / "summary.json").read_text())}
    assert "broken.nrrd" in records["broken.nrrd"]["error"] and "output" not in records["broken.nrrd"]
    assert "error" not in records["good.nrrd"] and Path(records["good.nrrd"]["output"]).is_file()


@pytest.mark.skipif(
    not (SAMPLES / "sample_ct.nrrd").exists() or not (SAMPLES / "lesion_classifier.pt").exists(),
    reason="the demo sample is made by scripts/make_demo.py",
)
def test_batch_on_the_demo_sample(tmp_path):
    pytest.importorskip("slicer")
    import shutil

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SAMPLES / "sample_ct.nrrd", inputs)
    truth = json.loads((SAMPLES / "sample_ct.json").read_text())
    result = _run(
        inputs,
        tmp_path / "out",
        "--model",
        SAMPLES / "lesion_classifier.pt",
        "--card",
        SAMPLES / "lesion_classifier.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "summary.json").read_text())[0]
    assert record["targetName"] == truth["label"]
    peak = np.array(record["peakRAS"].split(","), dtype=float)
    assert np.linalg.norm(peak - truth["lesion_center_ras_mm"]) < truth["lesion_radius_mm"]
    heat = sitk.ReadImage(record["output"])
    source = sitk.ReadImage(str(SAMPLES / "sample_ct.nrrd"))
    assert heat.GetSize() == source.GetSize() and np.allclose(heat.GetDirection(), source.GetDirection(), atol=1e-6)
