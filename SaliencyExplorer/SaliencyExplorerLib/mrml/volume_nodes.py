"""MRML volume node <-> SimpleITK image, through the node's IJKToRAS matrix (RAS <-> LPS).

Why: the pipeline works on SimpleITK images in LPS patient space; Slicer stores a volume as voxels plus a
4x4 IJKToRAS matrix (and maybe a parent transform). Converting through that matrix, never through
"origin + spacing" guesses, keeps oblique and anisotropic grids exact. A linear parent transform is folded
into the image's geometry (the model sees the volume where the user sees it); the heatmap's voxels then
go back on the source's own IJK grid, so the output node can carry the source's matrix and transform.
Imports ``slicer`` and ``vtk`` lazily, never ``qt``.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from ..volumes.monai_grid import FILE_AFFINE, file_affine

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse: the matrix form of volumes.geometry.ras_from_lps


def _vtk_matrix_to_numpy(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def numpy_to_vtk_matrix(array):
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(array[r][c]))
    return m


def ijk_to_ras(node) -> np.ndarray:
    """The node's own IJKToRAS matrix (4x4 numpy), ignoring parent transforms."""
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return _vtk_matrix_to_numpy(m)


def parent_to_world(node) -> np.ndarray | None:
    """4x4 matrix of the node's parent transform chain to world, identity if none, None if non-linear."""
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        return None
    m = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(m)
    return _vtk_matrix_to_numpy(m)


def world_ijk_to_ras(node) -> tuple[np.ndarray, bool]:
    """IJKToRAS in world coordinates when the parent chain is linear, else the local one.

    Returns ``(matrix, in_world)``. A non-linear (warping) transform cannot be folded into a grid, so the
    model then sees the voxels as acquired and the heatmap still follows the same transform.
    """
    local = ijk_to_ras(node)
    to_world = parent_to_world(node)
    if to_world is None:
        return local, False
    return to_world @ local, True


def geometry_from_ijk_to_ras(matrix) -> tuple[tuple, tuple, tuple]:
    """(origin, spacing, direction) in SimpleITK LPS convention from a 4x4 IJKToRAS matrix.

    Raises if the axes are not orthogonal (shear or non-uniform scaling in a parent transform), because an
    ITK image cannot represent such a grid.
    """
    m = np.asarray(matrix, dtype=float)
    columns = m[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    if np.any(spacing <= 0):
        raise SaliencyError("the volume's IJKToRAS matrix has a zero-length axis: fix the volume's spacing")
    direction_ras = columns / spacing
    if not np.allclose(direction_ras.T @ direction_ras, np.eye(3), atol=1e-4):
        raise SaliencyError(
            "the volume's grid is sheared or non-uniformly scaled by its parent transform, which an image "
            "grid cannot represent: harden the transform and resample the volume (Resample Scalar/Vector/DWI "
            "Volume), or remove the transform."
        )
    direction_lps = LPS_FROM_RAS @ direction_ras
    origin_lps = LPS_FROM_RAS @ m[:3, 3]
    return tuple(origin_lps), tuple(spacing), tuple(direction_lps.ravel())


def ijk_to_ras_from_image(image: sitk.Image) -> np.ndarray:
    """The 4x4 IJKToRAS matrix of a 3D SimpleITK image (the exact inverse of the function above)."""
    if image.GetDimension() != 3:
        raise SaliencyError(f"a Slicer volume needs a 3D image, got {image.GetDimension()}D: add a slice axis")
    d = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = LPS_FROM_RAS @ d @ np.diag(image.GetSpacing())
    m[:3, 3] = LPS_FROM_RAS @ np.asarray(image.GetOrigin(), dtype=float)
    return m


def node_array(node) -> np.ndarray:
    """A copy of the node's voxels in numpy (k, j, i[, component]) order."""
    from vtk.util import numpy_support  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    image_data = node.GetImageData()
    if image_data is None or image_data.GetPointData().GetScalars() is None:
        raise SaliencyError(f"volume '{node.GetName()}' has no voxels: load or compute it first")
    dims = image_data.GetDimensions()
    scalars = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())
    components = image_data.GetNumberOfScalarComponents()
    shape = (dims[2], dims[1], dims[0]) + ((components,) if components > 1 else ())
    return scalars.reshape(shape).copy()


def node_to_image(node, world: bool = True) -> sitk.Image:
    """The node as a SimpleITK image in LPS, with its parent transform folded in when ``world`` and linear.

    The image's voxel grid is the node's own IJK grid, in the same order: a map computed on this image
    goes back onto the node voxel for voxel (:func:`array_for_node`).
    """
    array = node_array(node)
    if array.ndim != 3:
        raise SaliencyError(
            f"volume '{node.GetName()}' has {array.shape[-1]} components per voxel: pick a scalar volume, or "
            "convert it first (Vector to Scalar Volume module)."
        )
    matrix = world_ijk_to_ras(node)[0] if world else ijk_to_ras(node)
    origin, spacing, direction = geometry_from_ijk_to_ras(matrix)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    storage = node.GetStorageNode() if hasattr(node, "GetStorageNode") else None
    affine = file_affine(storage.GetFileName()) if storage is not None and storage.GetFileName() else None
    if affine is not None:  # the affine MONAI's reader gives the file (used only while the grid still matches it)
        image.SetMetaData(FILE_AFFINE, affine)
    return image


def array_for_node(image: sitk.Image, node, atol_mm: float = 1e-3) -> np.ndarray:
    """Voxels of ``image`` (computed on ``node``'s grid) as a (k, j, i) array, after checking the grid.

    The image must have the node's size and, in patient space, the node's geometry (world, or local when
    the parent transform is non-linear): a map of the right size on another grid would be misplaced.
    """
    dims = node.GetImageData().GetDimensions()
    fix = "resample the heatmap onto the source volume (pipeline.explain_image does) before writing it"
    if tuple(image.GetSize()) != tuple(dims):
        raise SaliencyError(f"the heatmap grid {tuple(image.GetSize())} is not the volume's grid {tuple(dims)}: {fix}")
    origin, spacing, direction = geometry_from_ijk_to_ras(world_ijk_to_ras(node)[0])
    if not (
        np.allclose(image.GetOrigin(), origin, atol=atol_mm)
        and np.allclose(image.GetSpacing(), spacing, atol=atol_mm)
        and np.allclose(image.GetDirection(), direction, atol=1e-5)
    ):
        raise SaliencyError(f"the heatmap has the volume's size but lies elsewhere in patient space: {fix}")
    return sitk.GetArrayFromImage(image)


def set_node_voxels(node, array: np.ndarray) -> None:
    """Replace the node's voxels by ``array`` (k, j, i[, c]) as new image data; geometry stays in IJKToRAS."""
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)
    from vtk.util import numpy_support  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    array = np.ascontiguousarray(array)
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    components = array.shape[3] if array.ndim == 4 else 1  # (k, j, i, c) for vector volumes
    scalars = numpy_support.numpy_to_vtk(array.reshape(-1, components) if components > 1 else array.ravel(), deep=True)
    image_data.GetPointData().SetScalars(scalars)
    node.SetAndObserveImageData(image_data)


def copy_geometry(source, target) -> None:
    """Give ``target`` exactly the source's IJKToRAS matrix and parent transform."""
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    m = vtk.vtkMatrix4x4()
    source.GetIJKToRASMatrix(m)
    target.SetIJKToRASMatrix(m)
    target.SetAndObserveTransformNodeID(source.GetTransformNodeID())


def ijk_to_world_ras(node, ijk) -> np.ndarray:
    """World RAS position of voxel index (i, j, k) of ``node`` (through its linear parent transforms)."""
    matrix, in_world = world_ijk_to_ras(node)
    if not in_world:
        raise SaliencyError("the volume's parent transform is non-linear: harden it to get world positions")
    return (matrix @ np.append(np.asarray(ijk, dtype=float), 1.0))[:3]


def image_to_node(image: sitk.Image, node) -> None:
    """Give ``node`` the voxels and geometry of a 3D SimpleITK image (LPS -> RAS)."""
    matrix = ijk_to_ras_from_image(image)
    set_node_voxels(node, sitk.GetArrayFromImage(image))
    node.SetIJKToRASMatrix(numpy_to_vtk_matrix(matrix))


def add_volume_from_image(scene, image: sitk.Image, name: str, class_name="vtkMRMLScalarVolumeNode"):
    """A new volume node in ``scene`` holding ``image`` (with default display nodes)."""
    node = scene.AddNewNodeByClass(class_name, name)
    image_to_node(image, node)
    node.CreateDefaultDisplayNodes()
    return node
