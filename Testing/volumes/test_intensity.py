"""The card's intensity rules: window (to [0, 1], clipped), scale (a x + b), zscore (statistics of the whole
native volume unless the card gives them), none.

Truth: every rule evaluated by hand on a few values.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import Intensity
from SaliencyExplorerLib.volumes.intensity import normalise_intensity

VALUES = np.array([-1000.0, -50.0, 100.0, 250.0, 400.0])


def test_window_maps_min_to_0_and_max_to_1_and_clips():
    out = normalise_intensity(VALUES, Intensity(type="window", min=-50, max=250))
    assert out.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0] and out.dtype == np.float32


def test_scale_and_none():
    assert normalise_intensity(VALUES, Intensity(type="scale", a=0.01, b=1.0)).tolist() == pytest.approx(
        [-9.0, 0.5, 2.0, 3.5, 5.0]
    )
    none = normalise_intensity(VALUES.astype(np.int16), Intensity())
    assert none.tolist() == VALUES.tolist() and none.dtype == np.float32


def test_zscore_with_the_cards_statistics():
    out = normalise_intensity(VALUES, Intensity(type="zscore", mean=100.0, std=50.0))
    assert out.tolist() == pytest.approx([-22.0, -3.0, 0.0, 3.0, 6.0])
    flat = normalise_intensity(VALUES, Intensity(type="zscore", mean=100.0, std=0.0))  # no spread: only centred
    assert flat.tolist() == pytest.approx([-1100.0, -150.0, 0.0, 150.0, 300.0])


def test_zscore_statistics_come_from_the_whole_native_volume():
    native = sitk.GetImageFromArray(np.array([[[0.0, 2.0], [4.0, 6.0]]]))  # mean 3, sample std sqrt(20/3)
    std = np.sqrt(20.0 / 3.0)
    cropped = np.array([[6.0, 0.0]])  # the resampled model grid sees only part of it
    out = normalise_intensity(cropped, Intensity(type="zscore"), native)
    np.testing.assert_allclose(out, [[(6.0 - 3.0) / std, (0.0 - 3.0) / std]], rtol=1e-6)
    mean_only = normalise_intensity(cropped, Intensity(type="zscore", mean=0.0), native)
    np.testing.assert_allclose(mean_only, cropped / std, rtol=1e-6)  # the card's mean, the volume's std
    own = normalise_intensity(cropped, Intensity(type="zscore"))  # no native volume: the values' own
    np.testing.assert_allclose(own, [[1.0 / np.sqrt(2), -1.0 / np.sqrt(2)]], rtol=1e-6)


def test_nnunet_mask_equals_nnunet_zscore_with_use_mask_for_norm():
    """zscore ``mask: "nnunet_nonzero"``: nnU-Net's crop_to_nonzero (non-zero in any channel, holes filled) and
    ZScoreNormalization(use_mask_for_norm=True) on the cropped channels, exactly; MONAI's ``nonzero`` is not."""
    pytest.importorskip("nnunetv2")
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import ZScoreNormalization
    from SaliencyExplorerLib.card.spec import IntensityChain, IntensityStep
    from SaliencyExplorerLib.volumes.intensity import nnunet_nonzero_mask

    rng = np.random.default_rng(3)
    data = np.zeros((2, 14, 16, 18), np.float32)
    data[0, 2:12, 3:13, 4:15] = rng.normal(300, 40, (10, 10, 11))
    data[0, 6:8, 7:9, 8:10] = 0.0  # a hole inside channel 0's body
    data[0, 3, 4, 5] = 0.0  # a one-voxel hole
    data[1, 2:12, 3:13, 4:15] = rng.normal(80, 10, (10, 10, 11))
    data[1, 2:12, 3:13, 4:8] = 0.0  # channel 1 is zero where channel 0 is not: the mask is their union
    data[1, 12, 7, 9] = 5.0  # channel 1 alone widens the box by one slice
    cropped, seg, _ = crop_to_nonzero(data.copy())
    mask = nnunet_nonzero_mask(list(cropped))
    assert (mask == (seg[0] >= 0)).all() and mask.sum() > (cropped != 0).any(0).sum()  # holes filled
    masked = IntensityChain((IntensityStep("zscore", (("mask", "nnunet_nonzero"),)),))
    monai = IntensityChain((IntensityStep("zscore", (("nonzero", True),)),))
    for c in range(2):
        ref = ZScoreNormalization(use_mask_for_norm=True, intensityproperties={}, target_dtype=np.float32)
        theirs = ref.run(cropped[c].copy(), seg[0])
        ours = normalise_intensity(cropped[c], masked, mask=mask)
        assert np.abs(ours - theirs).max() < 1e-5 and (ours[~mask] == 0).all()
        assert np.abs(normalise_intensity(cropped[c], monai) - theirs).max() > 1.0
    alone, seg0, _ = crop_to_nonzero(data[:1].copy())  # one channel: the mask from the values themselves
    ref = ZScoreNormalization(use_mask_for_norm=True, intensityproperties={}, target_dtype=np.float32)
    assert np.abs(normalise_intensity(alone[0], masked) - ref.run(alone[0].copy(), seg0[0])).max() < 1e-5
