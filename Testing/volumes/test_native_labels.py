"""argmax_on_native: the labels on the scan's own grid from probabilities brought back linearly, checked
against the linear interpolation written out in numpy (a ramp across a grid twice as coarse as the scan)."""

import numpy as np
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.volumes.geometry import to_model
from SaliencyExplorerLib.volumes.native_labels import argmax_on_native


def _scan_and_input(background, size=None):
    scan = sitk.Image([21, 5, 3], sitk.sitkFloat32)  # 1 mm voxels; the model grid: 2 mm, the same first voxel
    spec = {"spacing": [2.0, 2.0, 2.0], "fit": "first_voxel", "background": background}
    card = parse_card({"input": dict(spec, size=size) if size else spec})
    return scan, to_model(scan, card)


def test_two_classes_switch_where_the_interpolated_probabilities_cross():
    scan, model_input = _scan_and_input(0.0)
    n = model_input.tensor.shape[2]  # 11 model voxels along i at x = 0, 2, ..., 20 mm
    x_model = np.arange(n) * 2.0
    p1 = np.clip((x_model - 7.3) / 6.0 + 0.5, 0, 1)  # crosses 0.5 at 7.3 mm, between model voxels
    probs = np.zeros((1, 2, *model_input.tensor.shape[2:]), np.float32)
    probs[0, 1] = p1[:, None, None]
    probs[0, 0] = 1 - probs[0, 1]
    labels = sitk.GetArrayFromImage(argmax_on_native(probs, model_input))  # (k, j, i)
    expected = np.interp(np.arange(21.0), x_model, p1) > 0.5
    assert labels.shape == (3, 5, 21)
    assert np.array_equal(labels[1, 2], expected.astype(np.uint8))
    assert labels[1, 2, 7] == 0 and labels[1, 2, 8] == 1  # nearest-neighbour labels from the 2 mm grid: 8 -> 0


def test_one_sigmoid_channel_and_the_edge_beyond_the_grid():
    """A grid of 5 model voxels covers x = 0..8 mm of the 0..20 mm scan: beyond it the labels are 0, or with
    the card's "edge" padding (MONAI's padding_mode "border", which Invertd uses too) the edge's answer."""
    for background, beyond in ((0.0, 0), ("edge", 1)):
        scan, model_input = _scan_and_input(background, size=[5, 3, 2])
        probs = np.full((1, 1, *model_input.tensor.shape[2:]), 0.9, np.float32)
        labels = sitk.GetArrayFromImage(argmax_on_native(probs, model_input))
        assert labels.shape == (3, 5, 21) and (labels[:, :, :9] == 1).all()
        assert (labels[:, :, 10:] == beyond).all()
