"""deepbet's two chained networks (a box network localises, the brain network runs on its box + 10%) said in
one card with a localiser, on Colin27: the prediction agrees with deepbet's own mask, and the map's energy
lies inside the brain (Colin27's skull-stripped ch2bet).

Differences the card cannot say yet, each small on Colin27: deepbet's box keeps the rows where the first
mask covers more than 2% of a plane (the card: any voxel); its second stage reuses the first stage's
percentiles (the card: the crop's own); it fills holes in the mask (the card: largest component only).
Whole-head 256^3 runs on a CPU take minutes: SALIENCY_SLOW_TESTS=1.
"""

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.real_models import colin27, deepbet_card, deepbet_models

pytestmark = pytest.mark.skipif(
    not os.environ.get("SALIENCY_SLOW_TESTS"),
    reason="whole-head real-model run (minutes on a CPU): set SALIENCY_SLOW_TESTS=1",
)


def dice(a, b) -> float:
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def test_deepbet_card_with_localiser_on_colin27(tmp_path):
    _, brain_model = deepbet_models()
    head = colin27()
    from deepbet import BrainExtraction

    BrainExtraction(no_gpu=True).run(str(head), mask_path=str(tmp_path / "deepbet.nii.gz"))
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "deepbet.nii.gz")))
    (tmp_path / "deepbet.json").write_text(json.dumps(deepbet_card()))
    from SaliencyExplorerLib.evaluation.localisation import energy_fraction
    from SaliencyExplorerLib.workflow.explain_image import explain_image

    result = explain_image(
        sitk.ReadImage(str(head)), str(brain_model), str(tmp_path / "deepbet.json"), method="gradcam", target="brain"
    )
    ours = sitk.GetArrayFromImage(result.prediction_image)
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(colin27("ch2bet.nii.gz")))) > 0
    heat = sitk.GetArrayFromImage(result.heatmap_image)
    figures = {
        "dice_vs_deepbet": dice(ours, theirs),
        "dice_vs_ch2bet": dice(ours, brain),
        "deepbet_vs_ch2bet": dice(theirs, brain),
        "energy_inside_brain": energy_fraction(heat, brain),
        "brain_share": float(brain.mean()),
        "grid_origin": list(result.model_input.grid.origin),
        "warnings": result.warnings,
    }
    print(json.dumps(figures))
    assert figures["dice_vs_deepbet"] >= 0.95
    assert figures["energy_inside_brain"] > 2 * figures["brain_share"]  # the map is on the brain, not the skull
