"""What taps (and many MONAI bundles) run before the network, said in a card and checked against MONAI's own
transforms on small arrays: NormalizeIntensity(nonzero=True) and CropForeground with a margin past the edge."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.volumes.cropping import crop_box, crop_native, take_box
from SaliencyExplorerLib.volumes.geometry import to_model
from SaliencyExplorerLib.volumes.intensity import normalise_intensity

monai_transforms = pytest.importorskip("monai.transforms")
torch = pytest.importorskip("torch")


def brain_like(shape=(9, 11, 13), seed=0):
    """Positive values inside an off-centre box touching two faces, exact zeros (air) elsewhere."""
    values = np.zeros(shape, np.float32)
    rng = np.random.default_rng(seed)
    values[:6, 3:11, 5:] = rng.uniform(20.0, 900.0, size=(6, 8, shape[2] - 5)).astype(np.float32)
    values[2, 4, 6] = -30.0  # a negative voxel is normalised too (it is non-zero)
    return values


@pytest.mark.parametrize("stats", [{}, {"mean": 100.0, "std": 50.0}])
def test_zscore_nonzero_equals_monai_normalize_intensity(stats):
    values = brain_like()
    card = parse_card({"input": {"intensity": [{"zscore": {"nonzero": True, **stats}}]}})
    ours = normalise_intensity(values, card.input.intensity[0])
    kwargs = {"subtrahend": [stats["mean"]], "divisor": [stats["std"]]} if stats else {}
    theirs = monai_transforms.NormalizeIntensity(nonzero=True, channel_wise=True, **kwargs)(
        torch.from_numpy(values[None].copy())
    )[0].numpy()
    assert np.array_equal(ours, theirs)  # to the bit: the statistics are torch's float32 ones, as MONAI's
    assert (ours[values == 0] == 0).all() and abs(float(ours[values != 0].mean())) < (1e-5 if not stats else 10)
    every = normalise_intensity(values, parse_card({"input": {"intensity": [{"zscore": {}}]}}).input.intensity[0])
    assert np.abs(every - ours).max() > 0.5  # z-scoring every voxel is a different input


@pytest.mark.parametrize("allow_smaller", [False, True])
def test_crop_margin_past_the_edge_equals_monai_crop_foreground(allow_smaller):
    values = brain_like()
    theirs = monai_transforms.CropForeground(margin=3, allow_smaller=allow_smaller)(
        torch.from_numpy(values[None].copy())
    )[0].numpy()
    box = crop_box(values > 0, (3, 3, 3), allow_smaller)
    ours = take_box(values, box)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert ours.shape == ((12, 14, 14) if not allow_smaller else (9, 11, 11))  # past: k 6 + 3 + 3, j 8 + 3 + 3


def test_model_grid_crop_past_the_edge_pads_and_moves_the_origin():
    values = brain_like()  # (k, j, i)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 1.0, 2.0))
    image.SetOrigin((10.0, -5.0, 3.0))
    card = parse_card({"input": {"crop_foreground": {"margin": 3, "allow_smaller": False}}})
    model_input = to_model(image, card)
    theirs = monai_transforms.CropForeground(margin=3, allow_smaller=False)(torch.from_numpy(values.T[None].copy()))[
        0
    ].numpy()  # tensor order (i, j, k)
    assert np.array_equal(model_input.tensor[0, 0].numpy(), theirs)
    first = np.asarray(model_input.grid.origin)  # box starts at i=2, j=0, k=-3: three slices below the image
    assert np.allclose(first, np.asarray(image.TransformContinuousIndexToPhysicalPoint((2, 0, -3))))
    native = crop_native(
        image,
        parse_card(
            {"input": {"crop_foreground": {"margin": 3, "allow_smaller": False, "on": "native"}}}
        ).input.crop_foreground,
        card.input.intensity[0],
    )
    assert native.GetSize() == (14, 14, 12) and np.array_equal(sitk.GetArrayFromImage(native), theirs.T)
