"""volumes.cropping: the foreground's bounding box grown by a margin and clamped to the array (as MONAI's
CropForegroundd), and the crop of a native volume keeping its place in patient space."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.cropping import crop_box, crop_native, selected_voxels


def test_the_box_of_the_selected_voxels_grows_by_the_margin_and_stays_inside():
    select = np.zeros((10, 12, 14), bool)  # (k, j, i)
    select[3:5, 2:7, 10:12] = True
    assert crop_box(select, (1, 2, 0)) == ((3, 5), (0, 9), (9, 13))  # margin given in (i, j, k)
    assert crop_box(select, (5, 5, 5)) == ((0, 10), (0, 12), (5, 14))
    assert crop_box(np.zeros((2, 2, 2), bool), (1, 1, 1)) is None


def test_a_native_crop_keeps_the_voxels_where_they_were():
    card = parse_card({"input": {"crop_foreground": {"select": "positive", "threshold": 0.5, "margin": [1, 1, 1]}}})
    crop = card.input.crop_foreground
    values = np.zeros((8, 9, 10), np.float32)
    values[2:4, 3:6, 4:7] = 1.0
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 1.0, 2.0))
    image.SetOrigin((10.0, -5.0, 3.0))
    assert selected_voxels(values, crop).sum() == 18
    cut = crop_native(image, crop, card.input.intensity[0])
    assert cut.GetSize() == (5, 5, 4)
    assert cut.TransformIndexToPhysicalPoint((0, 0, 0)) == image.TransformIndexToPhysicalPoint((3, 2, 1))
    with pytest.raises(SaliencyError, match="selects no voxel"):
        crop_native(image * 0, crop, card.input.intensity[0])
