"""argmax_on_native: the labels on the scan's own grid from probabilities brought back linearly, checked
against the linear interpolation written out in numpy (a ramp across a grid twice as coarse as the scan);
for nnU-Net cards, the logits brought back by nnunetv2's own resampling onto its crop box."""

import numpy as np
import pytest
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


def test_nnunet_cards_bring_the_logits_back_its_way_and_leave_background_outside_the_box():
    """input.resampling "nnunet": the same argmax, but each class's logits come back as nnunetv2's own
    resample_data_or_seg_to_shape brings them (order 1, the 4 mm axis alone with order 0) onto the non-zero
    box, the activation is taken there, and every voxel outside the box is background."""
    pytest.importorskip("nnunetv2")
    from nnunetv2.preprocessing.resampling.default_resampling import resample_data_or_seg_to_shape

    values = np.zeros((7, 10, 12), np.float32)
    values[1:6, 2:9, 3:11] = 1.0  # the non-zero box nnU-Net crops to
    scan = sitk.GetImageFromArray(values)
    scan.SetSpacing((1.0, 1.0, 4.0))
    card = parse_card(
        {
            "input": {
                "array_order": "zyx",
                "spacing": [1.5, 1.5, 1.5],
                "fit": "extent",
                "resampling": "nnunet",
                "crop_foreground": {"select": "nonzero", "on": "native"},
            },
            "output": {"activation": "sigmoid"},
        }
    )
    model_input = to_model(scan, card)
    assert model_input.native_box == ((1, 6), (2, 9), (3, 11))
    shape = model_input.tensor.shape[2:]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 1, *shape)).astype(np.float32)
    labels = sitk.GetArrayFromImage(argmax_on_native(logits, model_input, "sigmoid"))
    back = resample_data_or_seg_to_shape(
        logits[0], (5, 7, 8), (1.5, 1.5, 1.5), (4.0, 1.0, 1.0), is_seg=False, order=1, order_z=0, force_separate_z=None
    )
    expected = np.zeros((7, 10, 12), np.uint8)
    expected[1:6, 2:9, 3:11] = 1 / (1 + np.exp(-back[0])) > 0.5
    assert 0 < expected.sum() < 5 * 7 * 8  # both labels inside the box
    assert np.array_equal(labels, expected)


def test_a_localiser_box_on_an_nnunet_card_brings_the_labels_back_to_the_whole_scan():
    """A localiser's box (k, j, i) crops the scan before nnU-Net's own crop: the crop box on the whole scan is
    the two composed, and the labels land where the same scan alone puts them, shifted by the box."""
    pytest.importorskip("scipy")
    values = np.zeros((7, 10, 12), np.float32)
    values[1:6, 2:9, 3:11] = 1.0
    whole = np.full((11, 16, 15), 3.0, np.float32)  # non-zero around it: only the localiser's box removes it
    whole[2:9, 4:14, 1:13] = values
    card = parse_card(
        {
            "input": {
                "array_order": "zyx",
                "spacing": [1.5, 1.5, 1.5],
                "fit": "extent",
                "resampling": "nnunet",
                "crop_foreground": {"select": "nonzero", "on": "native"},
            },
            "output": {"activation": "sigmoid"},
        }
    )
    alone, scan = (sitk.GetImageFromArray(v) for v in (values, whole))
    for image in (alone, scan):
        image.SetSpacing((1.0, 1.0, 4.0))
    boxed = to_model(scan, card, box=((2, 9), (4, 14), (1, 13)))
    reference = to_model(alone, card)
    assert boxed.native_box == ((3, 8), (6, 13), (4, 12)) and reference.native_box == ((1, 6), (2, 9), (3, 11))
    assert torch_equal(boxed.tensor, reference.tensor)
    logits = np.random.default_rng(1).normal(size=(1, 1, *boxed.tensor.shape[2:])).astype(np.float32)
    expected = np.zeros(whole.shape, np.uint8)
    expected[2:9, 4:14, 1:13] = sitk.GetArrayFromImage(argmax_on_native(logits, reference, "sigmoid"))
    got = sitk.GetArrayFromImage(argmax_on_native(logits, boxed, "sigmoid"))
    assert 0 < expected.sum() and np.array_equal(got, expected)


def torch_equal(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())
