"""`explain` end to end on the sample that ships in Resources/Samples (made by scripts/make_demo.py): the
card is found beside the model, the heatmap sits on the sample's own oblique anisotropic grid and peaks in
the planted lesion (ground truth in sample_ct.json)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.paths import SAMPLES
from SaliencyExplorerLib.cli import main

TRUTH = SAMPLES / "sample_ct.json"

pytestmark = pytest.mark.skipif(not TRUTH.is_file(), reason="demo sample not generated yet (scripts/make_demo.py)")


@pytest.mark.parametrize("model_file", ["lesion_classifier.pt", "lesion_classifier.pt2"])
def test_explain_the_shipped_sample(tmp_path, capsys, model_file):
    truth = json.loads(TRUTH.read_text())
    sample = SAMPLES / truth["file"]
    model = SAMPLES / model_file
    if not model.is_file():
        pytest.skip(f"{model_file} is not shipped")
    before = sample.read_bytes()
    out = tmp_path / "heat.nii.gz"
    rc = main(["explain", "-i", str(sample), "-m", str(model), "-o", str(out), "--target", "lesion", "--json", "-q"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out)
    centre = np.asarray(truth["lesion_center_lps_mm"], float)
    assert np.linalg.norm(np.asarray(summary["peak"]["lps_mm"]) - centre) <= float(truth["lesion_radius_mm"])
    heat, src = sitk.ReadImage(str(out)), sitk.ReadImage(str(sample))
    assert heat.GetSize() == src.GetSize()
    assert np.allclose(heat.GetSpacing(), src.GetSpacing(), atol=1e-6)
    assert np.allclose(heat.GetOrigin(), src.GetOrigin(), atol=1e-5)  # NIfTI stores the origin as float32
    assert np.allclose(heat.GetDirection(), src.GetDirection(), atol=1e-6)
    assert sample.read_bytes() == before
