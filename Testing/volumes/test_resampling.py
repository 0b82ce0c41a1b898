"""One resampling onto a grid (volumes/resampling.py), against independent truth: the cubic B-spline equals scipy's
``map_coordinates(order=3, mode="nearest")`` (nnU-Net's and skimage's resize), the "edge" background is the
nearest edge voxel's value, and a grid too big for any memory is refused in one line naming the fix.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.grid import Grid
from SaliencyExplorerLib.volumes.resampling import check_grid_memory, resample_to_grid

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _volume():
    """A smooth non-polynomial field on an axis-aligned 1 mm grid at the origin (index == physical point)."""
    k, j, i = np.meshgrid(np.arange(9), np.arange(10), np.arange(11), indexing="ij")
    arr = (np.sin(i / 2.3) * np.cos(j / 3.1) + 0.1 * k).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    return image, arr


def test_bspline_equals_scipy_order_3_with_nearest_border():
    ndimage = pytest.importorskip("scipy.ndimage")
    image, arr = _volume()
    grid = Grid((13, 11, 7), (0.77, 0.83, 1.1), (0.3, 0.2, 0.4), IDENTITY)  # inside the volume, off the voxels
    ours = resample_to_grid(image, grid, interpolation="bspline")
    k, j, i = np.meshgrid(
        *[o + s * np.arange(n) for o, s, n in zip(grid.origin, grid.spacing, grid.size)][::-1], indexing="ij"
    )
    theirs = ndimage.map_coordinates(arr.astype(np.float64), [k, j, i], order=3, mode="nearest")
    theirs = np.clip(theirs, arr.min(), arr.max())  # skimage's resize(clip=True), as the module says
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-4


def test_edge_background_is_the_nearest_edge_voxel():
    image, arr = _volume()
    grid = Grid((3, 1, 1), (5.0, 1.0, 1.0), (-12.0, 4.0, 3.0), IDENTITY)  # i = -12, -7, -2: left of the volume
    edge = resample_to_grid(image, grid, background="edge")
    assert np.allclose(edge[0, 0], arr[3, 4, 0], atol=1e-6)  # every point takes voxel (i=0, j=4, k=3)
    zero = resample_to_grid(image, grid, background=-5.0)
    assert np.all(zero == -5.0)


def test_a_grid_beyond_any_memory_is_refused_with_the_fix():
    card = parse_card({})
    huge = Grid((4096, 4096, 4096), (0.1, 0.1, 0.1), (0.0, 0.0, 0.0), IDENTITY)
    with pytest.raises(SaliencyError, match=r"4096 x 4096 x 4096 voxels.*input.size / input.spacing"):
        check_grid_memory(huge, card)
    check_grid_memory(Grid((8, 8, 8), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY), card)  # a small one passes
