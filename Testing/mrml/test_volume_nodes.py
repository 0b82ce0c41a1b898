"""MRML volume node <-> SimpleITK image through the node's IJKToRAS matrix (RAS <-> LPS), parent
transforms folded in.

Truth: the phantom image the node was made from (voxels and geometry must come back exactly), and
IJKToRAS matrices written out by hand from spacing, direction and origin.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.slicer_scene import phantom_node
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import volume_nodes
from SaliencyExplorerLib.volumes.geometry import lps_from_ras, ras_from_lps


def test_node_image_round_trip_is_exact(mrml):
    source, image, _ = phantom_node(mrml)
    back = volume_nodes.node_to_image(source)
    assert np.allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-12)
    assert np.allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-12)
    assert np.allclose(back.GetDirection(), image.GetDirection(), atol=1e-12)
    import SimpleITK as sitk

    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_sheared_parent_transform_is_refused_with_the_fix(mrml):
    source, _, _ = phantom_node(mrml)
    transform = mrml.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "stretch")
    transform.SetMatrixTransformToParent(volume_nodes.numpy_to_vtk_matrix(np.diag([1.0, 2.0, 1.0, 1.0])))
    source.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(SaliencyError, match="harden"):
        volume_nodes.node_to_image(source, world=True)
    local = volume_nodes.node_to_image(source, world=False)  # the acquired grid is still readable
    assert local.GetSize() == source.GetImageData().GetDimensions()


def test_the_node_matrix_flips_the_first_two_axes_as_geometry_does():
    """LPS_FROM_RAS (node matrices) and volumes.geometry.ras_from_lps (points) are the same sign flip."""
    points = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    np.testing.assert_array_equal(points @ volume_nodes.LPS_FROM_RAS, ras_from_lps(points))
    assert lps_from_ras([1.0, 2.0, 3.0]).tolist() == [-1.0, -2.0, 3.0]
    np.testing.assert_array_equal(ras_from_lps(lps_from_ras(points)), points)


def test_ijk_to_ras_of_an_image_by_hand_and_back():
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetSpacing((0.5, 2.0, 3.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))  # i -> -y, j -> +x in LPS
    m = volume_nodes.ijk_to_ras_from_image(image)
    # LPS columns: i = (0, -0.5, 0), j = (2, 0, 0), k = (0, 0, 3); RAS flips x and y
    expected = np.array([[0.0, -2.0, 0.0, -10.0], [0.5, 0.0, 0.0, 20.0], [0.0, 0.0, 3.0, 30.0], [0, 0, 0, 1]])
    np.testing.assert_allclose(m, expected, atol=1e-12)
    origin, spacing, direction = volume_nodes.geometry_from_ijk_to_ras(m)
    np.testing.assert_allclose(origin, image.GetOrigin(), atol=1e-12)
    np.testing.assert_allclose(spacing, image.GetSpacing(), atol=1e-12)
    np.testing.assert_allclose(direction, image.GetDirection(), atol=1e-12)
    with pytest.raises(SaliencyError, match="needs a 3D image"):
        volume_nodes.ijk_to_ras_from_image(sitk.Image(4, 5, sitk.sitkFloat32))
    with pytest.raises(SaliencyError, match="zero-length axis"):
        volume_nodes.geometry_from_ijk_to_ras(np.diag([1.0, 0.0, 1.0, 1.0]))


def test_vtk_matrix_and_world_positions(mrml):
    matrix = np.arange(16, dtype=float).reshape(4, 4)
    vtk_matrix = volume_nodes.numpy_to_vtk_matrix(matrix)
    assert [[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)] == matrix.tolist()
    source, image, _ = phantom_node(mrml)
    np.testing.assert_allclose(
        volume_nodes.ijk_to_world_ras(source, (2, 3, 4)),
        np.array(image.TransformIndexToPhysicalPoint((2, 3, 4))) * [-1, -1, 1],
        atol=1e-9,
    )


def test_heatmap_voxels_go_back_only_onto_the_nodes_grid(mrml):
    source, image, _ = phantom_node(mrml)
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    on_grid = sitk.GetImageFromArray(values)
    on_grid.CopyInformation(image)
    np.testing.assert_array_equal(volume_nodes.array_for_node(on_grid, source), values)
    smaller = sitk.RegionOfInterest(on_grid, [s - 1 for s in image.GetSize()], [0, 0, 0])
    with pytest.raises(SaliencyError, match="is not the volume's grid"):
        volume_nodes.array_for_node(smaller, source)
    target = mrml.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "copy")
    volume_nodes.copy_geometry(source, target)
    np.testing.assert_array_equal(volume_nodes.ijk_to_ras(target), volume_nodes.ijk_to_ras(source))


def test_a_node_read_from_a_nifti_gets_monais_grid_from_its_file(mrml, tmp_path):
    """An oblique NIfTI whose float32 sform makes MONAI centre its grid: explained from a Slicer node (whose
    storage node names the file) the model grid is still MONAI's; a node moved since is not bound to it."""
    pytest.importorskip("monai")
    nib = pytest.importorskip("nibabel")
    from pathlib import Path

    from helpers import monai_matrix as mm
    from SaliencyExplorerLib.models.monai_bundle import derive_card
    from SaliencyExplorerLib.volumes.geometry import to_model
    from SaliencyExplorerLib.volumes.monai_grid import reader_affine, reader_affine_itk

    case = next(c for c in mm.cases() if c.name == "nii-2ax-b")
    path = mm.write(case, tmp_path)
    _, affine, _, _ = mm.monai_preprocessed(path)
    image = sitk.ReadImage(str(path))
    node = volume_nodes.add_volume_from_image(mrml.scene, image, "scan")
    storage = mrml.scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    card = derive_card(mm.CONFIG, {"name": "m"}, Path("/bundle/configs/inference.json"))
    from_node = volume_nodes.node_to_image(node)
    assert np.array_equal(reader_affine(from_node), nib.load(str(path)).affine)  # the file's float32 sform
    assert not np.array_equal(reader_affine(from_node), reader_affine_itk(from_node))
    grid = to_model(from_node, card).grid
    assert np.abs(mm.ras_affine(grid) - affine).max() < 1e-9
    node.SetOrigin(*(np.asarray(node.GetOrigin()) + 5.0))  # moved: the file no longer describes it
    moved = volume_nodes.node_to_image(node)
    assert np.array_equal(reader_affine(moved), reader_affine_itk(moved))  # the node's own (ITK's) affine then
