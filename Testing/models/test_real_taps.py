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
SLOW = pytest.mark.skipif(
    not os.environ.get("SALIENCY_SLOW_TESTS"),
    reason="whole-head real-model run (minutes on a CPU): set SALIENCY_SLOW_TESTS=1",
)


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


@pytest.fixture(scope="module")
def taps_on_colin27(tmp_path_factory):
    """taps' own segment (ONNX) on the whole Colin27 head: its label image (taps' QC keeps the largest part)."""
    inference, _, _ = taps_modules()
    out = tmp_path_factory.mktemp("taps") / "taps.nii.gz"
    inference.segment(colin27(), out, None, device="cpu", exact=True)
    return sitk.GetArrayFromImage(sitk.ReadImage(str(out)))


@SLOW
def test_windows_and_postprocessing_equal_taps_on_its_own_input(network, taps_on_colin27):
    """From taps' own preprocessed input (MONAI's transforms), the card's windows, Gaussian blur, logits
    brought back linearly, threshold 0.55 and largest component give taps' prediction (Dice 0.995)."""
    inference, _, _ = taps_modules()
    from SaliencyExplorerLib.card import parse_card
    from SaliencyExplorerLib.core.model_call import model_output
    from SaliencyExplorerLib.volumes.geometry import to_model
    from SaliencyExplorerLib.volumes.native_labels import predict

    card = parse_card(taps_card())
    model_input = to_model(sitk.ReadImage(str(colin27())), card)
    model_input.tensor = inference.build_preprocessing()({"image": str(colin27())})["image"][None].as_tensor().float()
    with torch.no_grad():
        logits = model_output(network, model_input.tensor, None, card.inference)
    ours = sitk.GetArrayFromImage(predict(logits.numpy(), "sigmoid", card.output, model_input))
    assert taps_on_colin27.sum() > 1000 and dice(ours, taps_on_colin27) >= 0.95


@SLOW
@pytest.mark.xfail(
    strict=True,
    reason="MONAI's grid is reproduced (volumes/monai_grid: 235 x 272 x 68, origin "
    "within 1e-4 mm) but not its float arithmetic: its resampling leaves ~1e-13 in 13,971 voxels of "
    "air that NormalizeIntensityd(nonzero=True) then z-scores (the preprocessing test); taps' "
    "network, far outside its domain on a brain, predicts 4.5 cc there where the card's exact input "
    "gives nothing (Dice 0.0, measured after the MONAI-grid merge, 4.6 min on 2 CPU cores).",
)
def test_card_prediction_equals_taps_own_pipeline_on_colin27(network, taps_on_colin27, tmp_path):
    """The whole card through the CLI's front door against taps' own segment, on the whole head."""
    torch.save(network.state_dict(), tmp_path / "taps.pt")
    (tmp_path / "taps.json").write_text(json.dumps(taps_card()))
    from SaliencyExplorerLib.cli import main

    code = main(
        [
            "explain",
            "-i",
            str(colin27()),
            "-m",
            str(tmp_path / "taps.pt"),
            "--method",
            "gradcam",
            "-o",
            str(tmp_path / "heat.nrrd"),
            "--prediction-output",
            str(tmp_path / "ours.nrrd"),
            "-q",
        ]
    )
    assert code in (0, None)
    ours = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ours.nrrd")))
    assert ours.shape == taps_on_colin27.shape and dice(ours, taps_on_colin27) >= 0.95


def test_card_preprocessing_equals_taps_on_colin27_but_monais_resampling_noise():
    """taps' preprocessing (MONAI's transforms) and the card's give the same grid, and the same values up to
    one thing: MONAI's float resampling leaves ~1e-13 where the interpolation of air is 0 (at ~14,000 voxels,
    SimpleITK's at ~400 others), and NormalizeIntensityd(nonzero=True) then z-scores those voxels (to -2.04)
    and counts them in its statistics. Every mismatch of the non-zero masks is such a voxel; taps' network,
    far outside its domain on a brain, is sensitive enough to this that the predictions differ (see below)."""
    inference, _, _ = taps_modules()
    from monai.transforms import Compose
    from SaliencyExplorerLib.card import parse_card
    from SaliencyExplorerLib.volumes.geometry import to_model

    head = colin27()
    preprocessing = inference.build_preprocessing()
    data = preprocessing({"image": str(head)})
    theirs = data["image"][0].numpy()
    model_input = to_model(sitk.ReadImage(str(head)), parse_card(taps_card()))
    ours = model_input.tensor[0, 0].numpy()
    assert ours.shape == theirs.shape == (235, 272, 68)
    affine = np.asarray(data["image"].affine)  # RAS; the card's grid is LPS
    assert np.allclose(affine[:3, 3] * [-1, -1, 1], model_input.grid.origin, atol=1e-4)
    resampled = Compose(list(preprocessing.transforms[:5]))({"image": str(head)})["image"]
    offset = np.round((affine[:3, 3] - np.asarray(resampled.affine)[:3, 3]) / [0.8, 0.8, 3.0]).astype(int)
    raw = np.zeros(theirs.shape, np.float64)
    low, high = np.maximum(offset, 0), np.minimum(offset + theirs.shape, resampled.shape[1:])
    raw[tuple(slice(a - o, b - o) for a, b, o in zip(low, high, offset))] = resampled[0].numpy()[
        tuple(slice(a, b) for a, b in zip(low, high))
    ]
    extra = (theirs != 0) & (ours == 0)
    assert 0 < extra.sum() < 0.01 * (theirs != 0).sum()  # about 14,000 of 2.2 million voxels
    assert np.abs(raw[extra]).max() < 1e-9  # each one is air MONAI's arithmetic left at ~1e-13
    ours_only = (ours != 0) & (theirs == 0)  # SimpleITK's own noise, at far fewer voxels (about 400)
    assert ours_only.sum() < 0.05 * extra.sum() and (raw[ours_only] == 0).all()
    both = (theirs != 0) & (ours != 0)
    assert np.corrcoef(ours[both], theirs[both])[0, 1] > 0.9999  # the same z-score, statistics 1% apart
