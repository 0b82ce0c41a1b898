"""Synthetic CT-like volumes with a lesion at a known PHYSICAL point, in any native geometry.

Why: every geometry test (and the demo, and the Slicer tests) needs ground truth that lives in patient
space, not in array indices. A phantom is built voxel by voxel from the physical (LPS, SimpleITK) position
of each voxel centre, so the lesion sits at the same millimetre point whatever the orientation, spacing,
flip or obliquity of the grid that samples it.

API (stable, other engineers code against it)::

    from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction, voxel_points_lps

    direction = rotation_direction((20, -15, 0))          # oblique: rotations about x, y, z in degrees
    image, mask = make_phantom(size=(48, 48, 16), spacing=(0.7, 0.7, 3.0), direction=direction,
                               lesion_center_lps=(10.0, -5.0, 2.0), lesion_radius_mm=7.0, seed=0)
    # image: sitk.Image float32 (HU-like: air -1000, body ~40, lesion ~160, Gaussian noise)
    # mask:  sitk.Image uint8 on the same grid, 1 inside the lesion sphere

Sizes, spacings and origins are in SimpleITK's i, j, k (x, y, z) order; ``direction`` is SimpleITK's
row-major 3x3 (its columns are the physical directions of the i, j, k axes). Works for 2D too
(``size`` of length 2, a 2x2 direction).
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

AIR_HU = -1000.0
BODY_HU = 40.0
LESION_HU = 160.0


def rotation_direction(angles_deg) -> tuple:
    """Direction cosines (row-major, SimpleITK style) of the rotation Rz @ Ry @ Rx by ``angles_deg``.

    ``angles_deg`` is (about x, about y, about z) in degrees for 3D, or a single angle (or a 1-tuple) for
    2D. Used to make oblique grids: the columns of the result are the physical i, j, k axes.
    """
    angles = np.atleast_1d(np.asarray(angles_deg, dtype=float))
    if angles.size == 1:
        t = math.radians(float(angles[0]))
        return tuple(np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]).ravel())
    if angles.size != 3:
        raise ValueError("rotation_direction needs 3 angles (about x, y, z) for 3D or 1 angle for 2D")
    ax, ay, az = (math.radians(a) for a in angles)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return tuple((rz @ ry @ rx).ravel())


def voxel_points_lps(size, spacing, origin, direction) -> np.ndarray:
    """Physical (LPS) position of every voxel centre, as an array in numpy (reversed, e.g. k, j, i) order.

    Shape ``(*reversed(size), dim)``: ``points[k, j, i]`` is the centre of voxel (i, j, k), matching
    ``sitk.GetArrayFromImage``. Formula: ``origin + D @ (spacing * index)``, as ITK defines it.
    """
    dim = len(size)
    d = np.asarray(direction, dtype=float).reshape(dim, dim)
    axes = [np.arange(n, dtype=float) * s for n, s in zip(size, spacing)]
    grids = np.meshgrid(*axes[::-1], indexing="ij")[::-1]  # each (*reversed(size)), in i, j, k order
    scaled = np.stack(grids, axis=-1)  # (..., dim): spacing * index
    return scaled @ d.T + np.asarray(origin, dtype=float)


def centered_origin(size, spacing, direction, center_lps=None) -> tuple:
    """Origin that puts the grid's extent centre at ``center_lps`` (default: the physical origin 0)."""
    dim = len(size)
    d = np.asarray(direction, dtype=float).reshape(dim, dim)
    half = (np.asarray(size, dtype=float) - 1) * np.asarray(spacing, dtype=float) / 2
    center = np.zeros(dim) if center_lps is None else np.asarray(center_lps, dtype=float)
    return tuple(center - d @ half)


def make_phantom(
    size=(48, 48, 32),
    spacing=None,
    origin=None,
    direction=None,
    lesion_center_lps=None,
    lesion_radius_mm=6.0,
    seed=0,
    noise_hu=10.0,
    body_fraction=0.42,
    lesion_hu=LESION_HU,
):
    """A CT-like phantom: air, a body ellipsoid, a spherical lesion, Gaussian noise.

    - ``spacing`` default: 1 mm along every axis.
    - ``origin`` default: the grid is centred on the physical point 0 (so the same phantom in two
      geometries overlaps in patient space).
    - ``direction`` default: identity (LPS axes).
    - the body ellipsoid is centred on the grid's centre with semi-axes ``body_fraction`` x the extent
      along each grid axis (so it always fits inside the volume).
    - ``lesion_center_lps`` default: the grid centre shifted by a quarter of the body along the first
      grid axis; ``lesion_radius_mm`` is the sphere's radius in mm. ``lesion_hu=None`` omits the lesion
      (mask all zero), for "no lesion" samples.

    Returns ``(image, lesion_mask)``: float32 and uint8 SimpleITK images on the same grid.
    """
    dim = len(size)
    size = tuple(int(n) for n in size)
    spacing = (1.0,) * dim if spacing is None else tuple(float(s) for s in spacing)
    if len(spacing) != dim:
        raise ValueError(f"spacing {spacing} must have {dim} values like size {size}")
    if direction is None:
        direction = tuple(np.eye(dim).ravel())
    direction = tuple(float(v) for v in np.asarray(direction, dtype=float).ravel())
    if origin is None:
        origin = centered_origin(size, spacing, direction)
    origin = tuple(float(v) for v in origin)
    d = np.asarray(direction).reshape(dim, dim)

    points = voxel_points_lps(size, spacing, origin, direction)
    center = np.asarray(origin) + d @ ((np.asarray(size) - 1) * np.asarray(spacing) / 2)
    local = (points - center) @ d  # coordinates along the grid axes, in mm
    semi = body_fraction * np.asarray(size) * np.asarray(spacing)
    body = np.sum((local / semi) ** 2, axis=-1) <= 1.0

    if lesion_center_lps is None:
        lesion_center_lps = center + d[:, 0] * semi[0] * 0.5
    lesion_center = np.asarray(lesion_center_lps, dtype=float)
    if lesion_hu is None:
        lesion = np.zeros(body.shape, dtype=bool)
    else:
        lesion = np.linalg.norm(points - lesion_center, axis=-1) <= float(lesion_radius_mm)

    rng = np.random.default_rng(seed)
    values = np.full(body.shape, AIR_HU, dtype=np.float32)
    values[body] = BODY_HU
    if lesion_hu is not None:
        values[lesion] = float(lesion_hu)
    values += rng.normal(0.0, noise_hu, size=values.shape).astype(np.float32)

    image = sitk.GetImageFromArray(values)
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    for img in (image, mask):
        img.SetSpacing(spacing)
        img.SetOrigin(origin)
        img.SetDirection(direction)
    return image, mask


def lesion_center_of(image, mask) -> np.ndarray:
    """Physical (LPS) centroid of a mask's nonzero voxels: the ground truth the tests compare against."""
    arr = sitk.GetArrayViewFromImage(mask) > 0
    if not arr.any():
        raise ValueError("the mask is empty: there is no lesion to locate")
    points = voxel_points_lps(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    return points[arr].mean(axis=0)
