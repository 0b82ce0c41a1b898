"""explain_image with a card whose prediction is postprocessed (here: keep the largest component): the
prediction written for the user and the region the map explains are both that postprocessed answer."""

import numpy as np
import SimpleITK as sitk
import torch
from helpers.window_models import BrightBlobSeg
from SaliencyExplorerLib.core.engine import explain
from SaliencyExplorerLib.workflow.explain_image import explain_image

CARD = {
    "task": "segmentation",
    "classes": ["background", "lesion"],
    "target_layer": "features",
    "input": {"intensity": {"type": "scale", "a": 0.01, "b": 0.0}},
}


def two_blobs():
    k, j, i = np.meshgrid(np.arange(12), np.arange(16), np.arange(24), indexing="ij")
    big = (i - 6) ** 2 + (j - 8) ** 2 + (k - 6) ** 2 <= 9
    small = (i - 18) ** 2 + (j - 8) ** 2 + (k - 6) ** 2 <= 2
    return sitk.GetImageFromArray(((big | small) * 100.0 + 5.0).astype(np.float32))


def test_largest_component_is_predicted_and_explained():
    image = two_blobs()
    plain = explain_image(image, BrightBlobSeg(), CARD, method="saliency", target="lesion")
    card = {**CARD, "output": {"largest_component": True}}
    kept = explain_image(image, BrightBlobSeg(), card, method="saliency", target="lesion")
    both, one = sitk.GetArrayFromImage(plain.prediction_image), sitk.GetArrayFromImage(kept.prediction_image)
    assert both[:, :, 14:].any() and not one[:, :, 14:].any()  # the small blob is gone from the prediction
    assert np.array_equal(one[:, :, :14], both[:, :, :14])
    # the map explains exactly the kept region: the engine's explanation with that region as the mask
    x = kept.model_input.tensor
    region = torch.from_numpy(one.transpose(2, 1, 0)[None] == 1)  # (k, j, i) -> tensor (i, j, k)
    truth = explain(BrightBlobSeg(), x, "saliency", target=1, task="segmentation", mask=region)
    assert np.allclose(kept.explanation.raw, truth.raw, atol=1e-7)
    assert not np.allclose(plain.explanation.raw, truth.raw, atol=1e-5)
