"""Headless MRML for tests: phantom volume nodes in a real Slicer scene, heatmaps and transforms.

Why: every Slicer-side test needs the same few lines (a volume node with a lesion at a known physical
point, a parent transform); real MRML from ``slicer-core``, never a fake. The scene itself comes from the
``mrml`` fixture in ``Testing/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")

from SaliencyExplorerLib.demo import phantoms
from SaliencyExplorerLib.mrml import volume_nodes  # noqa: E402

# A deliberately awkward geometry: oblique about all three axes, anisotropic, off-centre.
OBLIQUE = dict(size=(40, 36, 14), spacing=(0.9, 1.1, 3.0), angles=(18.0, -12.0, 25.0))
LESION_LPS = (8.0, -6.0, 4.0)
LESION_RADIUS_MM = 6.0


def phantom_node(
    session,
    name="patient CT",
    size=OBLIQUE["size"],
    spacing=OBLIQUE["spacing"],
    angles=OBLIQUE["angles"],
    lesion_lps=LESION_LPS,
    radius=LESION_RADIUS_MM,
    seed=0,
):
    """A scalar volume node sampling a phantom; returns ``(node, image, mask)`` (SimpleITK, LPS)."""
    image, mask = phantoms.make_phantom(
        size=size,
        spacing=spacing,
        direction=phantoms.rotation_direction(angles),
        lesion_center_lps=lesion_lps,
        lesion_radius_mm=radius,
        seed=seed,
    )
    node = volume_nodes.add_volume_from_image(session.scene, image, name)
    return node, image, mask


def lesion_heatmap(image, mask, sigma_mm=4.0):
    """A synthetic heatmap: 1 at the lesion centre, a Gaussian fall-off (stands in for a model's map)."""
    center = phantoms.lesion_center_of(image, mask)
    points = phantoms.voxel_points_lps(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    d2 = np.sum((points - center) ** 2, axis=-1)
    return np.exp(-d2 / (2 * sigma_mm**2)).astype(np.float32), center


def add_linear_transform(scene, rotation_deg_z=30.0, translation=(12.0, -7.0, 5.0)):
    """A rigid parent transform node (rotation about S, then a shift), returned with its 4x4 matrix."""
    t = np.radians(rotation_deg_z)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    m[:3, 3] = translation
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "patient motion")
    node.SetMatrixTransformToParent(volume_nodes.numpy_to_vtk_matrix(m))
    return node, m


def world_ras_of_voxel(node, kji):
    """World RAS of a voxel given as numpy (k, j, i) index."""
    k, j, i = kji
    return volume_nodes.ijk_to_world_ras(node, (i, j, k))
