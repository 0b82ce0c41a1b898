"""nnU-Net's resampling reproduced: ``resample_to_shape`` against nnunetv2's own ``resample_data_or_seg_to_shape``
(its preprocessing of images with order 3 and its export of logits with order 1; order_z 0 and the automatic
separate-z rule) on isotropic and anisotropic spacings, up and down, and the index-space model grid's
placement in patient space."""

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("nnunetv2")

from nnunetv2.preprocessing.resampling.default_resampling import (
    resample_data_or_seg_to_shape,  # noqa: E402
)
from SaliencyExplorerLib.volumes.geometry import Grid  # noqa: E402
from SaliencyExplorerLib.volumes.nnunet_resampling import (  # noqa: E402
    box_grid,
    resample_to_shape,
    separate_z_axis,
)

CASES = [  # (shape, current spacing, new spacing): z, y, x
    ((7, 20, 18), (4.0, 0.8, 0.9), (1.8, 1.0, 1.0)),  # anisotropic scan: z alone, nearest
    ((16, 12, 14), (1.0, 1.1, 1.2), (1.5, 0.9, 0.7)),  # isotropic: one 3D resize
    ((9, 15, 11), (1.0, 1.0, 1.0), (5.0, 1.2, 1.2)),  # anisotropic target: z of the new spacing
    ((10, 8, 9), (1.0, 3.5, 3.5), (2.0, 2.0, 2.0)),  # two coarse axes: no separate z
]


@pytest.mark.parametrize("shape, current, new", CASES)
@pytest.mark.parametrize("order", [0, 1, 3])
def test_resample_equals_nnunet(shape, current, new, order):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, *shape)).astype(np.float32)
    target = [int(round(c / n * s)) for c, n, s in zip(current, new, shape)]
    theirs = resample_data_or_seg_to_shape(
        data, target, current, new, is_seg=False, order=order, order_z=0, force_separate_z=None
    )
    ours = resample_to_shape(data, target, current, new, order)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_separate_z_axis_follows_nnunet():
    assert separate_z_axis((4.0, 0.8, 0.8), (1.0, 1.0, 1.0)) == 0
    assert separate_z_axis((1.0, 1.0, 1.0), (1.0, 4.0, 1.0)) == 1
    assert separate_z_axis((1.0, 3.5, 3.5), (1, 1, 1)) is None  # two coarse axes
    assert separate_z_axis((1.0, 1.2, 2.9), (1.0, 1.0, 1.0)) is None  # ratio <= 3


@pytest.mark.parametrize("transpose", [(0, 1, 2), (2, 0, 1), (1, 0, 2)])
def test_box_grid_places_model_voxels_where_skimage_samples(transpose):
    """Model voxel m of an index-space resize samples native continuous index (m + 0.5) * n / size - 0.5,
    along the array axes nnU-Net's transpose_forward puts in front of the network."""
    vol = sitk.Image([20, 16, 9], sitk.sitkFloat32)
    vol.SetSpacing((0.8, 0.9, 4.0))
    vol.SetOrigin((3.0, -2.0, 7.0))
    vol.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    box = ((1, 8), (2, 14), (0, 20))  # k, j, i of the scan's own array
    shape = (11, 8, 14)  # the transposed array's model shape
    image = Grid(**box_grid(vol, box, shape, transpose)).image()
    assert image.GetSize() == shape[::-1]
    for m in ([0, 0, 0], [10, 7, 13][::-1], [5, 3, 2]):  # grid (i, j, k) = transposed array axes 2, 1, 0
        point = image.TransformIndexToPhysicalPoint(m)
        native_kji = np.zeros(3)
        for a in range(3):  # transposed array axis a is the scan's array axis transpose[a]
            axis = transpose[a]
            n = box[axis][1] - box[axis][0]
            native_kji[axis] = (m[2 - a] + 0.5) * n / shape[a] - 0.5 + box[axis][0]
        np.testing.assert_allclose(vol.TransformPhysicalPointToContinuousIndex(point), native_kji[::-1], atol=1e-9)
