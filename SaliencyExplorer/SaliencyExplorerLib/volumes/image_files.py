"""Reading and writing images (NRRD, NIfTI, MHA/MHD, DICOM series folders) with SimpleITK, safely.

Why: the command line's promises live here: a clear error for a missing, unreadable, 4-D or vector file;
no input is ever written (an output path that is one of the inputs is refused); an output is written to
a temporary file beside it and moved into place, so a failed write never leaves half a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from ..output_files import atomic_output, check_writable, suffix_of
from .geometry import check_image
from .monai_grid import FILE_AFFINE, file_affine

WRITE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def _read_dicom_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise SaliencyError(
            f"{folder} is a folder without a DICOM series. Give an image file or a folder holding one DICOM series."
        )
    if len(series) > 1:
        raise SaliencyError(
            f"{folder} holds {len(series)} DICOM series ({', '.join(series)}). Put each series "
            "in its own folder and give that folder."
        )
    names = reader.GetGDCMSeriesFileNames(str(folder), series[0])
    check_slice_spacing(folder, names)
    reader.SetFileNames(names)
    return reader.Execute()


def _slice_position(name: str):
    """(ImagePositionPatient, ImageOrientationPatient) of one DICOM file, from its header only."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(name)
    reader.ReadImageInformation()
    position = [float(v) for v in reader.GetMetaData("0020|0032").split("\\")]
    orientation = [float(v) for v in reader.GetMetaData("0020|0037").split("\\")]
    return position, orientation


def check_slice_spacing(folder, names, tolerance=0.01) -> None:
    """Refuse a series whose slices are not evenly spaced (a slice missing, or two at one position).

    Why refuse and not warn: ITK stacks the slices as if evenly spaced, so every slice past a gap would
    sit one slice off in patient space, and so would the heatmap drawn on it. A clinician is better
    served by one line and the fix than by a map silently shifted."""
    if len(names) < 3:
        return
    try:
        slices = [_slice_position(name) for name in names]
        normal = np.cross(slices[0][1][:3], slices[0][1][3:])
    except (RuntimeError, ValueError, IndexError):
        return  # no usable position tags: ITK's own reading decides (it assumes even spacing)
    if not np.isfinite(normal).all() or np.linalg.norm(normal) < 0.5:
        return
    along = np.sort([float(np.dot(normal, position)) for position, _ in slices])
    steps = np.diff(along)
    typical = float(np.median(steps))
    worst = int(np.argmax(np.abs(steps - typical)))
    if typical <= 0 or abs(steps[worst] - typical) > max(tolerance * typical, 1e-3):
        raise SaliencyError(
            f"the DICOM series in {folder} is not evenly spaced: {steps[worst]:.3g} mm between slices {worst + 1} "
            f"and {worst + 2}, {typical:.3g} mm elsewhere (a slice missing or repeated). The heatmap would sit off "
            "in patient space: give the complete series, or resample it to even spacing first (e.g. in 3D Slicer)."
        )


def read_image(path, what="input", colour=False) -> sitk.Image:
    """A scalar 2D/3D image from a file or a DICOM series folder; any problem -> SaliencyError with the fix.

    ``colour=True`` (pictures only) also accepts RGB images, which are never explained.
    """
    path = Path(path)
    if not path.exists():
        raise SaliencyError(f"{what} {path} does not exist. Check the path.")
    try:
        image = _read_dicom_series(path) if path.is_dir() else sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "ERROR" in line or "Unable" in line), first[0] if first else "")
        raise SaliencyError(
            f"cannot read {what} {path}: it is not an image SimpleITK can read ({detail.strip()}). "
            "Give a NRRD, NIfTI, MHA file or a DICOM series folder."
        ) from None
    except PermissionError:
        raise SaliencyError(f"cannot read {what} {path}: permission denied. Check the file's permissions.") from None
    if not (colour and image.GetNumberOfComponentsPerPixel() in (3, 4)):
        check_image(image, f"{what} {path}")
    affine = None if path.is_dir() else file_affine(path)
    if affine is not None:  # the affine MONAI's NIfTI reader sees (float32 sform), for MONAI's grid
        image.SetMetaData(FILE_AFFINE, affine)
    return image


def check_output_path(path, inputs=(), what="output", suffixes=WRITE_SUFFIXES) -> Path:
    """Refuse an output that is an input (or inside an input DICOM folder), a bad suffix, or an unwritable place."""
    path = Path(path)
    if suffix_of(path) not in suffixes:
        kind = "image suffix" if suffixes == WRITE_SUFFIXES else "suffix"
        raise SaliencyError(f"{what} {path} has an unknown {kind}. Use one of {', '.join(suffixes)}.")
    return check_writable(path, inputs, what)


def write_image(image: sitk.Image, path, inputs=(), what="output", compress=True) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file beside it, then rename)."""
    path = check_output_path(path, inputs, what)
    suffix = suffix_of(path)
    try:
        if suffix in (".nhdr", ".mhd"):  # header + separate data file: no atomic pair, write in place
            sitk.WriteImage(image, str(path), compress)
            return path
        with atomic_output(path, what) as tmp:
            sitk.WriteImage(image, tmp, compress)
    except RuntimeError as exc:
        raise SaliencyError(
            f"cannot write {what} {path}: {str(exc).strip().splitlines()[-1] if str(exc) else exc}. "
            "Check free space and permissions."
        ) from None
    return path
