"""A real network nobody here trained: taps' prostate SegResNetDS (lavlab-taps 1.1.2, ONNX) on real anatomy
(Colin27). Its weights converted into MONAI's class equal onnxruntime's; taps' whole pipeline, said in a card,
gives the prediction taps' own ``segment`` writes.

Size: the weights test runs one 128 x 128 x 32 window (taps' ONNX accepts no other size) on each side. The
pipeline test needs the whole head: on a part of Colin27 the non-zero z-score's statistics change and taps
predicts nothing; the head is 235 x 272 x 68 voxels on taps' grid, 18 windows per pipeline (about 3 minutes
on 2 idle CPU cores), so it runs when SALIENCY_SLOW_TESTS=1 (figures in the note of issue 18).
"""

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.real_models import colin27, taps_card, taps_modules, taps_network

ROI = (128, 128, 32)
SLOW = pytest.mark.skipif(not os.environ.get("SALIENCY_SLOW_TESTS"),
                          reason="whole-head real-model run (minutes on a CPU): set SALIENCY_SLOW_TESTS=1")


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


@SLOW
def test_card_prediction_equals_taps_own_pipeline_on_colin27(network, tmp_path):
    """taps' own segment (ONNX) against the card's prediction through the CLI's front door, on the whole head."""
    inference, _, _ = taps_modules()
    head = colin27()
    inference.segment(head, tmp_path / "taps.nii.gz", None, device="cpu", exact=True)  # its QC keeps the largest
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "taps.nii.gz")))

    torch.save(network.state_dict(), tmp_path / "taps.pt")
    card = taps_card()
    (tmp_path / "taps.json").write_text(json.dumps(card))
    from SaliencyExplorerLib.cli import main

    code = main(["explain", "-i", str(head), "-m", str(tmp_path / "taps.pt"),
                 "--method", "gradcam", "-o", str(tmp_path / "heat.nrrd"),
                 "--prediction-output", str(tmp_path / "ours.nrrd"), "-q"])
    assert code in (0, None)
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ours.nrrd")))
    assert ours.shape == theirs.shape and theirs.sum() > 100
    assert dice(ours, theirs) >= 0.95
