"""A segmentation-target mask that cannot apply is a clear error, not a silent empty region."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.geometry import mask_to_model, to_model


def _volume(size=(20, 18, 12)):
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=size[::-1]).astype(np.float32))
    image.SetSpacing((1.5, 1.5, 3.0))
    return image


CARD = {
    "name": "t",
    "task": "segmentation",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["bg", "fg"],
    "input": {"spacing": [2.0, 2.0, 2.0], "size": [16, 16, 16], "intensity": {"type": "none"}},
}


def test_mask_inside_lands_on_the_model_grid():
    volume = _volume()
    mask = sitk.Image(volume.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(volume)
    mask[10, 9, 6] = 1
    model_input = to_model([volume], parse_card(CARD))
    assert mask_to_model(mask, model_input).sum() >= 1


def test_empty_mask_and_mask_of_other_dimension_are_refused():
    volume = _volume()
    model_input = to_model([volume], parse_card(CARD))
    empty = sitk.Image(volume.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(volume)
    with pytest.raises(SaliencyError, match="field of view"):
        mask_to_model(empty, model_input)
    far = sitk.Image(volume.GetSize(), sitk.sitkUInt8) + 1
    far.SetOrigin((500.0, 500.0, 500.0))
    with pytest.raises(SaliencyError, match="field of view"):
        mask_to_model(far, model_input)
    flat = sitk.Image([20, 18], sitk.sitkUInt8) + 1
    with pytest.raises(SaliencyError, match="2-D"):
        mask_to_model(flat, model_input)
