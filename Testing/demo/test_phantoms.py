"""Phantoms put the lesion at the requested physical point whatever the grid (checked through SimpleITK)."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.demo.phantoms import lesion_center_of, make_phantom, rotation_direction, voxel_points_lps


def test_rotation_direction_is_a_rotation():
    d = np.asarray(rotation_direction((25, -15, 10))).reshape(3, 3)
    assert np.allclose(d @ d.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(d), 1.0)
    # a pure rotation about z by 90 degrees sends x to y
    rz = np.asarray(rotation_direction((0, 0, 90))).reshape(3, 3)
    assert np.allclose(rz @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_voxel_points_match_simpleitk():
    img, _ = make_phantom(size=(9, 7, 5), spacing=(0.7, 0.9, 3.0), direction=rotation_direction((20, 15, 0)))
    pts = voxel_points_lps(img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    for idx in [(0, 0, 0), (8, 6, 4), (3, 2, 1)]:
        assert np.allclose(pts[idx[::-1]], img.TransformIndexToPhysicalPoint(idx), atol=1e-9)


@pytest.mark.parametrize(
    "spacing,angles,flip",
    [((1, 1, 1), (0, 0, 0), False), ((0.7, 0.7, 3.0), (20, -25, 0), False), ((1.2, 1, 1.5), (0, 0, 0), True)],
)
def test_lesion_lands_at_requested_physical_point(spacing, angles, flip):
    d = np.asarray(rotation_direction(angles)).reshape(3, 3)
    if flip:
        d = d @ np.diag([-1.0, 1.0, -1.0])
    center = np.array([6.0, -4.0, 3.0])
    img, mask = make_phantom(
        size=(48, 44, 20),
        spacing=spacing,
        direction=tuple(d.ravel()),
        lesion_center_lps=center,
        lesion_radius_mm=7.0,
        seed=1,
    )
    assert img.GetSize() == mask.GetSize() == (48, 44, 20)
    # the sphere's centroid is its requested centre to within a voxel's size
    assert np.linalg.norm(lesion_center_of(img, mask) - center) < 0.5 * max(spacing)
    # every mask voxel is within the radius; the voxel nearest the centre is bright
    arr = sitk.GetArrayFromImage(img)
    idx = img.TransformPhysicalPointToIndex(tuple(center))
    assert arr[idx[::-1]] > 100
    # the phantom is CT-like: air outside, tissue inside
    assert arr[0, 0, 0] < -900


def test_two_dimensional_phantom():
    img, mask = make_phantom(
        size=(32, 30),
        spacing=(1.0, 2.0),
        direction=rotation_direction(30),
        lesion_center_lps=(3.0, 2.0),
        lesion_radius_mm=5.0,
    )
    assert img.GetDimension() == 2
    assert np.linalg.norm(lesion_center_of(img, mask) - [3.0, 2.0]) < 1.0
