"""Geometry: the model grid in physical space, the tensor layout, and the way back onto the native grid.

Truth is independent of geometry.py: SimpleITK's own index<->point transforms and interpolation at
physical points, phantoms whose lesion sits at a known millimetre point, and analytic smooth fields.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.geometry import (
    from_layout,
    heatmap_to_native,
    mask_to_model,
    to_layout,
    to_model,
)

OBLIQUE = rotation_direction((20, -25, 0))


@pytest.mark.parametrize("order", ["xyz", "zyx"])
@pytest.mark.parametrize("orientation", ["RAS", "LPS", "PIR", None])
def test_tensor_element_is_the_volume_at_that_grid_point(order, orientation):
    """x[0, 0, a, b, c] must be the volume sampled at the physical point of model voxel (i, j, k)."""
    img, _ = make_phantom(size=(24, 22, 10), spacing=(0.9, 0.8, 2.5), direction=OBLIQUE, noise_hu=0)
    smooth = sitk.SmoothingRecursiveGaussian(img, 3.0)
    card = parse_card({"input": {"orientation": orientation, "array_order": order, "spacing": [1.5, 1.7, 1.9]}})
    mi = to_model(smooth, card)
    x = mi.tensor[0, 0].numpy()
    ref = mi.grid.image()
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        ijk = [int(rng.integers(0, n)) for n in mi.grid.size]
        point = ref.TransformIndexToPhysicalPoint(ijk)
        cidx = smooth.TransformPhysicalPointToContinuousIndex(point)
        if not all(0 <= c <= n - 1 for c, n in zip(cidx, smooth.GetSize())):
            continue
        truth = smooth.EvaluateAtContinuousIndex(cidx)  # SimpleITK's own linear interpolation
        value = x[tuple(ijk)] if order == "xyz" else x[tuple(ijk[::-1])]
        assert abs(value - truth) < 1e-2 * max(1.0, abs(truth))
        checked += 1
    assert checked > 30


@pytest.mark.parametrize("order,axis", [("xyz", "k"), ("zyx", "k"), ("xyz", "i"), ("zyx", "j")])
def test_layout_round_trip_is_exact(order, axis):
    rng = np.random.default_rng(1)
    kji = rng.random((5, 6, 7)).astype(np.float32)
    for dims in (2, 3):
        card = parse_card({"spatial_dims": dims, "input": {"array_order": order, "slice_axis": axis}})
        out = to_layout(kji, card)
        assert np.array_equal(from_layout(out, card), kji)
    card2 = parse_card({"spatial_dims": 2, "input": {"array_order": order, "slice_axis": axis}})
    n_slices = {"i": 7, "j": 6, "k": 5}[axis]
    assert to_layout(kji, card2).shape[0] == n_slices


GEOMETRIES = {
    "oblique": dict(spacing=(1.0, 1.1, 1.3), direction=rotation_direction((20, -25, 0))),
    "oblique_xz": dict(spacing=(1.0, 1.0, 1.0), direction=rotation_direction((0, 15, 30))),
    "anisotropic": dict(spacing=(0.7, 0.7, 3.0), direction=None),
    "flipped": dict(spacing=(1.0, 1.0, 1.5), direction=tuple(np.diag([-1.0, 1.0, -1.0]).ravel())),
}


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_smooth_field_native_model_native_comes_back(name):
    geo = GEOMETRIES[name]
    size = (40, 40, 14) if geo["spacing"][2] >= 3 else (36, 34, 30)
    img, _ = make_phantom(size=size, noise_hu=0, **geo)
    # an analytic smooth field of the physical position
    pts = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")[::-1], -1)
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    phys = (pts * np.asarray(img.GetSpacing())) @ d.T + np.asarray(img.GetOrigin())
    field = np.exp(-np.sum((phys - [3.0, -2.0, 1.0]) ** 2, -1) / (2 * 12.0**2)).astype(np.float32)
    src = sitk.GetImageFromArray(field)
    src.CopyInformation(img)
    card = parse_card({"input": {"orientation": "RAS", "spacing": [1.6, 1.6, 1.6], "size": [24, 24, 24]}})
    mi = to_model(src, card)
    back = heatmap_to_native(mi.tensor[:, 0].numpy(), mi)
    assert back.GetSize() == img.GetSize()
    assert back.GetSpacing() == img.GetSpacing() and back.GetOrigin() == img.GetOrigin()
    assert back.GetDirection() == img.GetDirection()
    out = sitk.GetArrayFromImage(back)
    # inside the FOV (one model voxel away from its border) the field comes back within the error of two
    # linear interpolations (h^2/8 |f''| each, ~1% of the peak for 3 mm slices); a 1 mm shift would be ~5%
    cidx = np.stack([mi.grid.image().TransformPhysicalPointToContinuousIndex(tuple(p)) for p in phys.reshape(-1, 3)])
    inside = np.all((cidx >= 1) & (cidx <= np.array(mi.grid.size) - 2), axis=1).reshape(out.shape)
    # ... and away from the native border, where the model grid holds background beyond the volume
    margin = np.zeros(out.shape, bool)
    margin[3:-3, 3:-3, 3:-3] = True
    inside &= margin
    outside = np.any((cidx < -0.5 - 1e-6) | (cidx > np.array(mi.grid.size) - 0.5 + 1e-6), axis=1).reshape(out.shape)
    assert inside.sum() > 1000
    err = np.abs(out[inside] - field[inside])
    assert err.max() < 0.03 and err.mean() < 0.005
    assert outside.any() and np.all(out[outside] == 0.0)  # outside the model's field of view: 0


def test_masks_travel_with_nearest_neighbour():
    img, mask = make_phantom(
        size=(30, 30, 12),
        spacing=(0.8, 0.8, 2.5),
        direction=OBLIQUE,
        lesion_center_lps=(4.0, 3.0, 2.0),
        lesion_radius_mm=6,
    )
    card = parse_card({"input": {"orientation": "RAS", "spacing": [1.0, 1.0, 1.0]}})
    mi = to_model(img, card)
    m = mask_to_model(mask * 7, mi)
    assert m.dtype == bool and m.shape == tuple(mi.tensor[:, 0].shape)
    # the mask's centroid on the model grid is the lesion centre in physical space
    idx = np.argwhere(m[0]).mean(0)  # (i, j, k) for xyz
    centre = mi.grid.image().TransformContinuousIndexToPhysicalPoint(list(idx))
    assert np.linalg.norm(np.asarray(centre) - [4.0, 3.0, 2.0]) < 1.0


def test_bad_images_are_refused_with_the_fix():
    card = parse_card({})
    vec = sitk.Image([8, 8, 8], sitk.sitkVectorFloat32, 3)
    with pytest.raises(SaliencyError, match="vector image"):
        to_model(vec, card)
    four = sitk.Image([4, 4, 4, 3], sitk.sitkFloat32)
    with pytest.raises(SaliencyError, match="4 dimensions"):
        to_model(four, card)
    img, _ = make_phantom(size=(8, 8, 8))
    with pytest.raises(SaliencyError, match="in_channels=2"):
        to_model(img, parse_card({"in_channels": 2}))
    flat, _ = make_phantom(size=(8, 8))
    with pytest.raises(SaliencyError, match="3D model"):
        to_model(flat, card)
