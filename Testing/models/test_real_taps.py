"""A real network nobody here trained: taps' prostate SegResNetDS (lavlab-taps 1.1.2, ONNX) on real anatomy
(Colin27). Its weights converted into MONAI's class equal onnxruntime's; taps' whole pipeline, said in a card,
gives the prediction taps' own ``segment`` writes.

Size: the CPU suite runs the pipeline on a 64 x 64 x 32 window (taps' ROI_SIZE patched on both sides) over a
part of Colin27 where taps predicts, so it takes seconds; the full-size run (128 x 128 x 32 windows, the
whole head) is the same code with the patch left out (figures in the report of issue 18).
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.real_models import colin27, taps_card, taps_modules, taps_network

ROI = (64, 64, 32)
# where taps predicts on Colin27 (its own run on the whole head): an LPS box of the head, in mm
BOX_INDEX = ((40, 120), (70, 150), (40, 110))  # (i, j, k) voxel ranges of ch2.nii.gz (1 mm)


@pytest.fixture(scope="module")
def network():
    taps_modules()
    return taps_network()


def test_converted_weights_equal_onnxruntime(network):
    inference, _, _ = taps_modules()
    x = torch.randn((1, 1, *ROI), generator=torch.Generator().manual_seed(0))
    theirs = inference.ONNXPredictor(inference.resolve_checkpoint(None), "cpu")(x)
    with torch.no_grad():
        ours = network(x)
    assert ours.shape == theirs.shape == (1, 1, *ROI)
    assert float((ours - theirs).abs().max()) < 2e-3 < float(theirs.abs().max())  # logits of order 10


def dice(a, b) -> float:
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def test_card_prediction_equals_taps_own_pipeline_on_colin27(network, tmp_path, monkeypatch):
    inference, _, _ = taps_modules()
    head = sitk.ReadImage(str(colin27()))
    (i0, i1), (j0, j1), (k0, k1) = BOX_INDEX
    part = head[i0:i1, j0:j1, k0:k1]
    sitk.WriteImage(part, str(tmp_path / "colin_part.nii.gz"))
    monkeypatch.setattr(inference, "ROI_SIZE", ROI)
    monkeypatch.setattr(inference, "_run_qc", lambda mask, affine, path, exact: (mask, False, path))  # no QC
    inference.segment(tmp_path / "colin_part.nii.gz", tmp_path / "taps.nii.gz", None, device="cpu", exact=True)
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "taps.nii.gz")))

    torch.save(network.state_dict(), tmp_path / "taps.pt")
    card = taps_card()
    card["inference"]["roi_size"] = list(ROI)
    (tmp_path / "taps.json").write_text(json.dumps(card))
    from SaliencyExplorerLib.cli import main

    code = main(["explain", "-i", str(tmp_path / "colin_part.nii.gz"), "-m", str(tmp_path / "taps.pt"),
                 "--method", "gradcam", "-o", str(tmp_path / "heat.nrrd"),
                 "--prediction-output", str(tmp_path / "ours.nrrd"), "-q"])
    assert code in (0, None)
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ours.nrrd")))
    assert ours.shape == theirs.shape and theirs.sum() > 100
    assert dice(ours, theirs) >= 0.95
