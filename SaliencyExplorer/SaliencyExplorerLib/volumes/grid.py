"""The model's grid in patient space: where the model looks, from the volume's own grid and the card.

Why apart: the grid (origin, spacing, direction, size in LPS) is the one definition both resamplings use
(geometry.py), so the heatmap lands where the input came from. Card orientation codes are anatomical
("RAS": axis i points to the patient's Right), so in SimpleITK's LPS coordinates R is (-1, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..card import ModelCard
from ..errors import SaliencyError
from .intensity import value_range
from .monai_grid import orient, spacing_grid

LPS_AXIS = {
    "L": (1.0, 0.0, 0.0),
    "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "I": (0.0, 0.0, -1.0),
}
SLICE_AXIS = {"i": 0, "j": 1, "k": 2}


@dataclass(frozen=True)
class Grid:
    """A 3D sampling grid in LPS space, in SimpleITK's conventions (size/spacing in i, j, k order)."""

    size: tuple
    spacing: tuple
    origin: tuple
    direction: tuple  # row-major 3x3; columns are the physical i, j, k axes

    @classmethod
    def of(cls, image: sitk.Image) -> "Grid":
        return cls(
            tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()), tuple(image.GetDirection())
        )

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def image(self, array_kji: np.ndarray | None = None) -> sitk.Image:
        """A float32 image on this grid: zeros, or the given (k, j, i) array."""
        if array_kji is None:
            img = sitk.Image([int(n) for n in self.size], sitk.sitkFloat32)
        else:
            img = sitk.GetImageFromArray(np.ascontiguousarray(array_kji, dtype=np.float32))
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    def center(self) -> np.ndarray:
        """Physical centre of the grid's extent (the middle voxel centre for odd sizes)."""
        half = (np.asarray(self.size, float) - 1) * np.asarray(self.spacing, float) / 2
        return np.asarray(self.origin, float) + self.matrix @ half

    def corners(self) -> np.ndarray:
        """The 8 outer corners of the voxel extent (index -0.5 and size - 0.5), as LPS points (8, 3)."""
        lo, hi = -0.5, np.asarray(self.size, float) - 0.5
        idx = np.array(
            [
                [hi[0] if a else lo, hi[1] if b else lo, hi[2] if c else lo]
                for a in (0, 1)
                for b in (0, 1)
                for c in (0, 1)
            ]
        )
        return np.asarray(self.origin, float) + (idx * np.asarray(self.spacing, float)) @ self.matrix.T


def orientation_matrix(code: str) -> np.ndarray:
    """3x3 whose columns are the LPS unit vectors of model axes i, j, k for an anatomical code ("RAS")."""
    return np.array([LPS_AXIS[c] for c in code.upper()]).T


# ---------------------------------------------------------------- input checks and 2D images
def check_image(image, what="input image") -> None:
    """Only scalar 2D/3D images are explained; anything else is refused with the fix."""
    if not isinstance(image, sitk.Image):
        raise SaliencyError(
            f"{what} must be a SimpleITK image, got {type(image).__name__}. Read it with "
            "SaliencyExplorerLib.volumes.image_files.read_image()."
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise SaliencyError(
            f"{what} is a vector image ({image.GetNumberOfComponentsPerPixel()} components per "
            "voxel). Give one scalar volume per channel (repeat --input)."
        )
    if image.GetDimension() not in (2, 3):
        raise SaliencyError(
            f"{what} has {image.GetDimension()} dimensions; only 2D and 3D images can be "
            "explained. Split a 4-D series into 3D volumes (one per time point or channel)."
        )


def as_3d(image: sitk.Image) -> sitk.Image:
    """A 2D image as a one-slice 3D volume (third axis +S, 1 mm), so one code path serves both."""
    if image.GetDimension() == 3:
        return image
    vol = sitk.JoinSeries(image)
    d2 = np.asarray(image.GetDirection()).reshape(2, 2)
    d3 = np.eye(3)
    d3[:2, :2] = d2
    vol.SetDirection(tuple(d3.ravel()))
    vol.SetOrigin((*image.GetOrigin(), 0.0))
    vol.SetSpacing((*image.GetSpacing(), 1.0))
    return vol


# ---------------------------------------------------------------- the model grid
def _foreground_center(image: sitk.Image, threshold: float) -> np.ndarray:
    """Physical centroid of the voxels above ``threshold``, from marginal sums (no per-voxel point array)."""
    above = sitk.GetArrayViewFromImage(image) > threshold  # (k, j, i)
    count = int(above.sum())
    if count == 0:
        raise SaliencyError(
            f"no voxel is above the card's foreground threshold {threshold} (the volume's "
            f'range is {value_range(image)}). Lower input.center.foreground or use "image".'
        )
    mean_idx = []
    for axis in (2, 1, 0):  # i, j, k
        other = tuple(a for a in range(3) if a != axis)
        profile = above.sum(axis=other)
        mean_idx.append(float(profile @ np.arange(profile.size)) / count)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(mean_idx))


def nearest_axes(native: np.ndarray, code: str) -> np.ndarray:
    """The volume's own axes (columns of ``native``) permuted and flipped to be closest to ``code``.

    As MONAI's ``Orientation`` (nibabel's ``io_orientation``/``ornt_transform``): no rotation, so an oblique
    volume stays oblique; each volume axis in turn takes the anatomical axis it is most aligned with.
    """
    ras = np.diag([-1.0, -1.0, 1.0]) @ native
    affine = np.eye(4)
    affine[:3, :3] = ras
    _, _, axes = orient(affine, (2, 2, 2), code)
    return np.stack([native[:, a] * (-1.0 if flipped else 1.0) for a, flipped in axes], axis=1)


def is_monai_spacing(spec) -> bool:
    """Whether the card's ``input`` is MONAI's ``Spacingd`` (after ``Orientationd`` if any): ``fit: "first_voxel"``
    with the volume's own axes, or with them permuted and flipped towards ``orientation`` (``reorient: "axes"``)."""
    return spec.fit == "first_voxel" and (not spec.orientation or spec.reorient == "axes")


def model_grid(image: sitk.Image, card: ModelCard) -> Grid:
    """The model's input grid in LPS space for ``image`` (3D) and the card's ``input`` section.

    Orientation: the card's code (exact axes, or with ``reorient: "axes"`` the volume's own axes permuted
    and flipped towards it), else the volume's own axes. Spacing per axis: the card's, else the native
    spacing of the volume axis most aligned with it. ``fit``: "center" (centre: the extent's centre or the
    foreground centroid; size: the card's, else enough voxels to cover the volume from that centre),
    "extent" (the grid spans the volume's voxel extent edge to edge: size the card's or round(extent /
    spacing), spacing = extent / size; as nnU-Net's and MONAI ``Resized``'s index-space resize) or
    "first_voxel" (MONAI ``Spacingd`` after ``Orientationd``, computed as MONAI does in
    :mod:`.monai_grid`: origin at the first voxel centre when MONAI keeps it, else centred as MONAI
    centres; size round((n - 1) x native spacing / spacing + 1) with MONAI's rounding).
    """
    spec = card.input
    native = Grid.of(image)
    if spec.orientation and spec.reorient == "axes":
        direction = nearest_axes(native.matrix, spec.orientation)
    else:
        direction = orientation_matrix(spec.orientation) if spec.orientation else native.matrix
    alignment = np.abs(native.matrix.T @ direction)  # [native axis, model axis]
    partner = [int(np.argmax(alignment[:, m])) for m in range(3)]  # native axis most aligned with each model axis
    spacing = []
    for m in range(3):
        given = spec.spacing[m] if spec.spacing else None
        spacing.append(float(given) if given is not None else float(native.spacing[partner[m]]))
    spacing = np.asarray(spacing)
    if is_monai_spacing(spec):
        # MONAI Orientationd + Spacingd, computed as MONAI computes it (volumes/monai_grid.py)
        return Grid(*spacing_grid(image, spec.orientation, spec.spacing or (None, None, None), spec.size, spec.reader))
    if spec.fit != "center":
        return _fitted_grid(native, direction, spacing, partner, spec)
    if spec.center == "image":
        center = native.center()
    else:
        center = _foreground_center(image, spec.center[1])
    reach = np.abs((native.corners() - center) @ direction).max(axis=0)  # half-extent along each model axis
    size = []
    for m in range(3):
        given = spec.size[m] if spec.size else None
        size.append(int(given) if given is not None else max(1, int(np.ceil(2 * reach[m] / spacing[m] - 1e-6))))
    size = np.asarray(size)
    origin = center - direction @ ((size - 1) * spacing / 2)
    return Grid(
        tuple(int(n) for n in size),
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in origin),
        tuple(float(v) for v in direction.ravel()),
    )


def _fitted_grid(native: Grid, direction, spacing, partner, spec) -> Grid:
    """The "extent" and "first_voxel" grids (see :func:`model_grid`), axis by axis along the partner axes."""
    n = np.asarray([native.size[a] for a in partner], dtype=float)
    s_native = np.asarray([native.spacing[a] for a in partner], dtype=float)
    given = [spec.size[m] if spec.size else None for m in range(3)]
    if spec.fit == "extent":
        extent = n * s_native
        size = np.asarray(
            [int(g) if g is not None else max(1, int(round(extent[m] / spacing[m]))) for m, g in enumerate(given)]
        )
        spacing = extent / size
        origin = native.center() - direction @ ((size - 1) * spacing / 2)
    else:  # first_voxel
        size = np.asarray(
            [
                int(g) if g is not None else max(1, int(np.round((n[m] - 1) * s_native[m] / spacing[m] + 1)))
                for m, g in enumerate(given)
            ]
        )
        first = [0.0 if native.matrix[:, partner[m]] @ direction[:, m] >= 0 else n[m] - 1 for m in range(3)]
        index = [0.0, 0.0, 0.0]
        for m in range(3):
            index[partner[m]] = first[m]
        origin = np.asarray(native.origin, float) + native.matrix @ (
            np.asarray(index) * np.asarray(native.spacing, float)
        )
    return Grid(
        tuple(int(v) for v in size),
        tuple(float(v) for v in spacing),
        tuple(float(o) for o in origin),
        tuple(float(v) for v in direction.ravel()),
    )


def _sub_grid(grid: Grid, box) -> Grid:
    """The part of ``grid`` inside ``box`` ((start, stop) per k, j, i axis)."""
    start_ijk = np.asarray([box[2][0], box[1][0], box[0][0]], dtype=float)
    size = tuple(int(b[1] - b[0]) for b in box[::-1])
    origin = np.asarray(grid.origin, float) + grid.matrix @ (start_ijk * np.asarray(grid.spacing, float))
    return Grid(size, grid.spacing, tuple(float(o) for o in origin), grid.direction)
