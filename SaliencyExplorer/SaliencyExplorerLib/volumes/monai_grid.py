"""MONAI's grid, computed as MONAI computes it: ``Orientationd`` then ``Spacingd`` on the affine its reader gives.

Why: MONAI's ``Spacing`` places its output by ``compute_shape_offset``: the grid starts at the input's first
voxel only when one corner of the input is the smallest along every output axis to 1e-8 voxels, and is
otherwise centred (index shape/2 of input and output aligned). Which happens depends on the affine's last
bits: an oblique affine read in float64 (ITK's NRRD reader, nibabel's qform) is orthogonal enough, a
float32 one (a NIfTI sform, a NRRD written with 7 digits) often is not, and ``zoom_affine``'s Cholesky step
then tilts the later axes (Gram-Schmidt). The output size is ``round(extent + 1)`` with banker's rounding of
a sum that carries those bits too. So no rule of thumb reproduces it; this module ports the arithmetic
(nibabel's ``io_orientation``/``ornt_transform``, MONAI's ``zoom_affine``/``compute_shape_offset``, all numpy
float64) and feeds it the affine MONAI's reader would build:

- NIfTI: nibabel's ``img.affine`` (the float32 sform, else the qform); NRRD with pynrrd installed: the
  header's vectors (``NrrdReader``, LoadImage's pick then). Both are kept by ``image_files.read_image`` in
  the image's metadata under :data:`FILE_AFFINE`;
- anything else (NRRD without pynrrd, MHA, DICOM, a Slicer node): ITK's ``direction @ diag(spacing)`` and
  origin, as MONAI's ``ITKReader``. ITK's and pynrrd's affines differ in the last bit or two, which only
  matters where MONAI's size is a tie (x.5) before rounding: then the reader decides a slice.

Affines here are RAS (MONAI's and nibabel's); the returned grid is the tool's LPS :class:`Grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

FILE_AFFINE = (
    "SaliencyExplorer_file_affine_ras"  # metadata key (kept in NRRD job files): the reader's RAS affine, 16 numbers
)
AFFINE_TOL = 1e-3  # monai.data.utils.AFFINE_TOL
RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def file_affine(path) -> str | None:
    """The affine MONAI's default reader builds for a file, as metadata text; None where it is ITK's own.

    NIfTI: nibabel's ``img.affine`` (``NibabelReader``). NRRD: the header's vectors as pynrrd parses them
    (``NrrdReader``, which ``LoadImage`` tries before ``ITKReader`` when pynrrd is installed); without
    pynrrd, MONAI reads NRRD with ITK, whose affine is the image's own (None here).
    """
    name = str(path).lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            import nibabel  # noqa: PLC0415  (optional: present wherever MONAI's Orientationd runs)

            affine = np.asarray(nibabel.load(str(path)).affine, dtype=np.float64)
        elif name.endswith((".nrrd", ".nhdr")):
            import nrrd  # noqa: PLC0415  (pynrrd, optional: MONAI's NrrdReader)

            header = nrrd.read_header(str(path))
            vectors = np.asarray(header["space directions"], dtype=np.float64)
            affine = np.eye(4)
            affine[:3, :3] = vectors.T
            affine[:3, 3] = np.asarray(header["space origin"], dtype=np.float64)
            space = header.get("space", "left-posterior-superior")
            if space == "left-posterior-superior":
                affine = RAS_FROM_LPS @ affine
            elif space != "right-anterior-superior":
                return None
        else:
            return None
    except Exception:  # noqa: BLE001 - reader absent, or a header it reads differently: ITK's affine then
        return None
    return " ".join(repr(float(v)) for v in affine.ravel()) if affine.shape == (4, 4) else None


def reader_affine(image: sitk.Image, reader: str = "auto") -> np.ndarray:
    """The 4x4 RAS affine MONAI's reader builds for ``image`` (see the module docstring); ``reader`` "itk":
    ``LoadImage(reader="ITKReader")``'s, whatever the file."""
    if reader != "itk" and image.HasMetaDataKey(FILE_AFFINE):
        values = np.array([float(v) for v in image.GetMetaData(FILE_AFFINE).split()])
        affine = values.reshape(4, 4)
        if _agrees_with(affine, image):
            return affine
    return reader_affine_itk(image)


def _agrees_with(affine: np.ndarray, image: sitk.Image) -> bool:
    """Whether a stored file affine still describes ``image`` (not one since cropped or re-spaced)."""
    own = reader_affine_itk(image)
    return bool(np.allclose(affine, own, rtol=0.0, atol=1e-4 * max(1.0, float(np.abs(own).max()))))


def reader_affine_itk(image: sitk.Image) -> np.ndarray:
    """MONAI ``ITKReader``'s affine: direction @ diag(spacing), origin; LPS -> RAS (the first two rows change sign)."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = direction @ np.diag(np.asarray(image.GetSpacing(), dtype=np.float64))
    affine[:3, 3] = np.asarray(image.GetOrigin(), dtype=np.float64)
    return RAS_FROM_LPS @ affine


# ---------------------------------------------------------------- nibabel.orientations, as MONAI's Orientation uses it
def io_orientation(affine: np.ndarray) -> np.ndarray:
    """nibabel's ``io_orientation``: (3, 2) [output axis, flip] per input axis, greedy in input-axis order."""
    rzs = affine[:3, :3]
    zooms = np.sqrt(np.sum(rzs * rzs, axis=0))
    zooms[zooms == 0] = 1
    rs = rzs / zooms
    p, s, qs = np.linalg.svd(rs, full_matrices=False)
    keep = s > s.max() * 3 * np.finfo(np.float64).eps
    r = np.dot(p[:, keep], qs[keep])
    ornt = np.full((3, 2), np.nan)
    for in_ax in range(3):
        col = r[:, in_ax]
        if not np.allclose(col, 0):
            out_ax = int(np.argmax(np.abs(col)))
            ornt[in_ax] = (out_ax, -1 if col[out_ax] < 0 else 1)
            r[out_ax, :] = 0
    return ornt


def _axcodes_ornt(code: str) -> np.ndarray:
    labels = (("L", "R"), ("P", "A"), ("I", "S"))
    ornt = np.full((3, 2), np.nan)
    for n, c in enumerate(code.upper()):
        for axis, (low, high) in enumerate(labels):
            if c == high:
                ornt[n] = (axis, 1)
            elif c == low:
                ornt[n] = (axis, -1)
    return ornt


def orient(affine: np.ndarray, shape, code: str):
    """MONAI ``Orientation(axcodes=code)``: (new affine, new shape, per output axis (input axis, flipped))."""
    src, dst = io_orientation(affine), _axcodes_ornt(code)
    ornt = np.zeros((3, 2))  # nibabel ornt_transform(src, dst)
    for src_ax, (src_out, src_flip) in enumerate(src):
        dst_ax = int(np.nonzero(dst[:, 0] == src_out)[0][0])
        ornt[src_ax] = (dst_ax, -1 if dst[dst_ax, 1] != src_flip else 1)
    shape = np.asarray(shape, dtype=float)
    xform = _inv_ornt_aff(ornt, shape)
    order = np.argsort(ornt[:, 0].astype(int))
    new_shape = shape[order].astype(int)
    axes = [(int(order[m]), bool(ornt[order[m], 1] < 0)) for m in range(3)]
    return affine @ xform, tuple(int(n) for n in new_shape), axes


def _inv_ornt_aff(ornt: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """nibabel ``inv_ornt_aff``, verbatim in numpy."""
    p = ornt.shape[0]
    shape = np.array(shape)[:p]
    axis_transpose = [int(v) for v in ornt[:, 0]]
    undo_reorder = np.eye(p + 1)[axis_transpose + [p], :]
    undo_flip = np.diag(list(ornt[:, 1]) + [1.0])
    center_trans = -(shape - 1) / 2.0
    undo_flip[:p, p] = (ornt[:, 1] * center_trans) - center_trans
    return np.dot(undo_flip, undo_reorder)


# ---------------------------------------------------------------- monai.data.utils, as MONAI's Spacing uses it
def zoom_affine(affine: np.ndarray, pixdim) -> np.ndarray:
    """MONAI ``zoom_affine(affine, pixdim, diagonal=False)``; a non-positive/None pixdim keeps the input's."""
    norm = np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0))
    scale = np.array([float(p) if p is not None and p > 0 else float(n) for p, n in zip(pixdim, norm)])
    scale[scale == 0] = 1.0
    rzs = affine[:-1, :-1]
    zs = np.linalg.cholesky(rzs.T @ rzs).T
    rotation = rzs @ np.linalg.inv(zs)
    s = np.sign(np.diag(zs)) * np.abs(scale)
    out = np.eye(4)
    out[:-1, :-1] = rotation @ np.diag(s)
    return out


def compute_shape_offset(shape, in_affine: np.ndarray, out_affine: np.ndarray):
    """MONAI ``compute_shape_offset(..., scale_extent=False)``: (output shape, output origin)."""
    shape = np.array(tuple(shape), dtype=float)
    corners = np.asarray(np.meshgrid(*[(0.0, dim - 1.0) for dim in shape], indexing="ij")).reshape((3, -1))
    corners = np.concatenate((corners, np.ones_like(corners[:1])))
    corners_out = np.linalg.solve(out_affine, in_affine) @ corners
    corners = in_affine @ corners
    all_dist = corners_out[:-1].copy()
    corners_out = corners_out[:-1] / corners_out[-1]
    out_shape = np.round(np.ptp(corners_out, axis=1) + 1.0)
    offset = None
    for i in range(corners.shape[1]):
        min_corner = np.min(all_dist - all_dist[:, i : i + 1], 1)
        if np.allclose(min_corner, 0.0, rtol=AFFINE_TOL):
            offset = corners[:-1, i]
            break
    if offset is None:
        offset = in_affine[:-1, :-1] @ (shape / 2.0) + in_affine[:-1, -1] - out_affine[:-1, :-1] @ (out_shape / 2.0)
    return out_shape.astype(int), offset


def oriented(image: sitk.Image, code: str | None, reader: str = "auto"):
    """MONAI ``Orientationd(code)`` on ``image`` (none when ``code`` is None): (RAS affine, shape, per output
    axis (the image's own axis, flipped?))."""
    affine = reader_affine(image, reader)
    shape = tuple(int(n) for n in image.GetSize())
    if not code:
        return affine, shape, tuple((a, False) for a in range(3))
    affine, shape, axes = orient(affine, shape, code)
    return affine, shape, tuple(axes)


@dataclass(frozen=True)
class MonaiSpacing:
    """What MONAI's ``Orientationd`` + ``Spacingd`` compute before resampling, in its own numbers (RAS)."""

    source: np.ndarray  # 4x4 affine of the input after Orientationd (the reader's when no orientation)
    axes: tuple  # per oriented axis: (the image's own axis i/j/k, flipped?) -- Orientationd's flip and permute
    target: np.ndarray  # 4x4 affine of Spacingd's output (zoom_affine, compute_shape_offset's origin)
    size: tuple  # Spacingd's output shape (i, j, k), or the card's sizes where it gives them


def monai_spacing(image: sitk.Image, code: str | None, pixdim, sizes=None, reader: str = "auto") -> MonaiSpacing:
    """MONAI ``Orientationd(code)`` (if any) + ``Spacingd(pixdim)`` on ``image``: affines, axes and shape.

    ``sizes``: card sizes that replace MONAI's (None keeps MONAI's), as ``Spacing(output_spatial_shape)``.
    """
    affine, shape, axes = oriented(image, code, reader)
    # Spacing keeps the input's own spacing where it is within AFFINE_TOL of the target (min/max_pixdim)
    own = np.sqrt(np.sum(affine[:3, :3] ** 2, axis=0))
    pixdim = [d if p is not None and p - AFFINE_TOL <= d <= p + AFFINE_TOL else p for p, d in zip(pixdim, own)]
    new_affine = zoom_affine(affine, pixdim)
    out_shape, offset = compute_shape_offset(shape, affine, new_affine)
    if sizes is not None:
        out_shape = np.array([int(g) if g is not None else int(n) for g, n in zip(sizes, out_shape)])
    new_affine[:3, 3] = offset
    return MonaiSpacing(affine, tuple(axes), new_affine, tuple(max(1, int(n)) for n in out_shape))


def spacing_grid(image: sitk.Image, code: str | None, pixdim, sizes=None, reader: str = "auto"):
    """(size, spacing, origin, direction) in LPS for MONAI ``Orientationd(code)`` (if any) + ``Spacingd(pixdim)``.

    ``sizes``: card sizes that replace MONAI's (None keeps MONAI's), as ``Spacing(output_spatial_shape)``.
    """
    found = monai_spacing(image, code, pixdim, sizes, reader)
    lps = RAS_FROM_LPS @ found.target
    spacing = np.sqrt(np.sum(lps[:3, :3] ** 2, axis=0))
    direction = lps[:3, :3] / spacing
    return (
        found.size,
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in lps[:3, 3]),
        tuple(float(v) for v in direction.ravel()),
    )
