"""``explain_image`` also returns the model's own answer on the source's grid (issue 11, item 3).

Independent truth: a segmentation model whose prediction is known analytically -- a 1x1x1 convolution
whose class-1 logit is ``x - 100`` and class-0 logit ``100 - x``, i.e. "voxel brighter than 100 HU" --
on an oblique, anisotropic phantom explained on an isotropic model grid. Its label map on the native grid
must equal the thresholded phantom away from the lesion border, with the source's exact geometry.
A classification model's scores must equal the softmax of its logits computed here directly.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.workflow.explain_image import explain_image  # noqa: E402
from torch import nn  # noqa: E402

THRESHOLD = 100.0


class Brighter(nn.Module):
    """Two classes: background (x <= 100) and bright (x > 100); argmax is exactly x > 100."""

    def __init__(self, channels=2):
        super().__init__()
        self.conv = nn.Conv3d(1, channels, 1)
        with torch.no_grad():
            if channels == 2:
                self.conv.weight.copy_(torch.tensor([-1.0, 1.0]).reshape(2, 1, 1, 1, 1))
                self.conv.bias.copy_(torch.tensor([THRESHOLD, -THRESHOLD]))
            else:  # one sigmoid channel: > 0.5 exactly when x > 100
                self.conv.weight.fill_(1.0)
                self.conv.bias.fill_(-THRESHOLD)

    def forward(self, x):
        return self.conv(x)


def _phantom():
    return phantoms.make_phantom(
        size=(40, 36, 14),
        spacing=(0.9, 1.1, 3.0),
        direction=phantoms.rotation_direction((18.0, -12.0, 25.0)),
        lesion_center_lps=(8.0, -6.0, 4.0),
        lesion_radius_mm=8.0,
        noise_hu=0.0,
    )


def _card(channels=2, **inference):
    card = {
        "task": "segmentation",
        "spatial_dims": 3,
        "in_channels": 1,
        "classes": ["background", "bright"] if channels == 2 else ["bright"],
        "input": {"spacing": [1.3, 1.3, 1.3]},
    }
    if inference:
        card["inference"] = inference
    return card


def _away_from_border(truth: np.ndarray) -> np.ndarray:
    """Voxels whose 3x3x3 neighbourhood is all inside or all outside ``truth`` (resampling moves borders)."""
    image = sitk.GetImageFromArray(truth.astype(np.uint8))
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(image, [1, 1, 1]))
    shrunk = sitk.GetArrayFromImage(sitk.BinaryErode(image, [1, 1, 1]))
    return grown == shrunk


def _check_against_truth(result, image):
    label = result.prediction_image
    assert label is not None and result.prediction_scores is None
    assert label.GetSize() == image.GetSize()
    assert label.GetSpacing() == image.GetSpacing()
    assert label.GetOrigin() == image.GetOrigin()
    assert label.GetDirection() == image.GetDirection()
    assert label.GetPixelID() == sitk.sitkUInt8
    got = sitk.GetArrayFromImage(label)
    truth = sitk.GetArrayFromImage(image) > THRESHOLD
    inside = _away_from_border(truth)
    inside &= sitk.GetArrayFromImage(result.heatmap_image) >= 0  # (all voxels; the FOV covers the image)
    agreement = float(((got == 1) == truth)[inside].mean())
    assert truth.sum() > 200 and agreement >= 0.99, agreement
    assert set(np.unique(got)) <= {0, 1}
    assert result.prediction_labels() == {1: "bright"}
    return got


def test_segmentation_label_map_equals_the_thresholded_phantom_on_the_native_grid():
    image, _ = _phantom()
    result = explain_image(image, Brighter().eval(), _card(), method="saliency")
    _check_against_truth(result, image)


def test_a_single_sigmoid_channel_is_thresholded_at_one_half():
    image, _ = _phantom()
    result = explain_image(image, Brighter(1).eval(), _card(1), method="saliency")
    _check_against_truth(result, image)


def test_sliding_windows_reuse_the_blended_output_and_give_the_same_labels():
    image, _ = _phantom()
    whole = explain_image(image, Brighter().eval(), _card(), method="gradcam", layers="conv")
    model = Brighter().eval()
    calls, computed = [], []  # rows of every model call; rows the convolution itself computed
    model.register_forward_hook(lambda module, inputs, output: calls.append(int(inputs[0].shape[0])))
    conv = model.conv._conv_forward  # not run when the tail replay answers the layer from the clean pass
    model.conv._conv_forward = lambda x, *args: computed.append(int(x.shape[0])) or conv(x, *args)
    windowed = explain_image(
        image, model, _card(mode="sliding_window", roi_size=[16, 16, 16], overlap=0.25), method="gradcam", layers="conv"
    )
    counts, passes = windowed.explanation.extras["sliding_windows"], windowed.explanation.passes
    targeted = counts["windows"] - counts["skipped"]  # windows holding a voxel of the explained region
    assert counts["windows"] > 1 and 0 < targeted < counts["windows"]
    # the whole model ran once per window (the blended output, reused for the labels), no extra full forward;
    # then one tail replay (a model call whose layers up to conv answer from the clean pass) per window with a
    # target (one window per batch here): every model call is one of these two, and the passes say which
    assert sum(computed) == passes["forward"] == counts["windows"]
    assert passes["tail"] == counts["tail_only"] == targeted == len(calls) - len(computed)
    assert sum(calls) == passes["forward"] + passes["tail"]
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(windowed.prediction_image), sitk.GetArrayFromImage(whole.prediction_image)
    )
    _check_against_truth(windowed, image)


def test_classification_scores_are_the_softmax_of_the_models_logits():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv3d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(3, 3)
    ).eval()
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.random((9, 10, 11)).astype(np.float32))
    card = {"spatial_dims": 3, "in_channels": 1, "classes": ["normal", "benign", "malignant"]}
    result = explain_image(image, model, card, method="gradcam", layers="0")
    x = torch.from_numpy(sitk.GetArrayFromImage(image)).permute(2, 1, 0)[None, None].float()
    with torch.no_grad():
        expected = torch.softmax(model(x), 1)[0].numpy()
    assert result.prediction_image is None
    assert list(result.prediction_scores) == ["normal", "benign", "malignant"]
    np.testing.assert_allclose(list(result.prediction_scores.values()), expected, atol=1e-6)
    assert result.prediction_scores[result.target_name] == pytest.approx(result.score)


def test_classification_without_class_names_keys_the_index():
    model = nn.Sequential(nn.Conv3d(1, 2, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten()).eval()
    image = sitk.GetImageFromArray(np.ones((6, 6, 6), np.float32))
    result = explain_image(image, model, method="saliency")
    assert list(result.prediction_scores) == ["0", "1"]
    assert sum(result.prediction_scores.values()) == pytest.approx(1.0)
