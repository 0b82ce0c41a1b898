"""Reading and writing images (NRRD, NIfTI, MHA/MHD, DICOM series folders) with SimpleITK, safely.

Why: the command line's promises live here: a clear error for a missing, unreadable, 4-D or vector file;
no input is ever written (an output path that is one of the inputs is refused); an output is written to
a temporary file beside it and moved into place, so a failed write never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import SimpleITK as sitk

from ..errors import SaliencyError
from .geometry import check_image

WRITE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _read_dicom_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise SaliencyError(f"{folder} is a folder without a DICOM series. Give an image file or a folder "
                            "holding one DICOM series.")
    if len(series) > 1:
        raise SaliencyError(f"{folder} holds {len(series)} DICOM series ({', '.join(series)}). Put each series "
                            "in its own folder and give that folder.")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    return reader.Execute()


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
        raise SaliencyError(f"cannot read {what} {path}: it is not an image SimpleITK can read ({detail.strip()}). "
                            "Give a NRRD, NIfTI, MHA file or a DICOM series folder.") from None
    except PermissionError:
        raise SaliencyError(f"cannot read {what} {path}: permission denied. Check the file's permissions.") from None
    if not (colour and image.GetNumberOfComponentsPerPixel() in (3, 4)):
        check_image(image, f"{what} {path}")
    return image


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_path(path, inputs=(), what="output", suffixes=WRITE_SUFFIXES) -> Path:
    """Refuse an output that is an input (or inside an input DICOM folder), a bad suffix, or an unwritable place."""
    path = Path(path)
    if _suffix(path) not in suffixes:
        kind = "image suffix" if suffixes == WRITE_SUFFIXES else "suffix"
        raise SaliencyError(f"{what} {path} has an unknown {kind}. Use one of {', '.join(suffixes)}.")
    for given in inputs:
        given = Path(given)
        if _same_file(path, given) or (given.is_dir() and path.resolve().is_relative_to(given.resolve())):
            raise SaliencyError(f"{what} {path} is the input {given}: inputs are never overwritten. Choose another "
                                "output path.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SaliencyError(f"cannot write {what} {path}: the folder {folder} does not exist. Create it first.")
    if path.is_dir():
        raise SaliencyError(f"cannot write {what} {path}: it is a folder. Give a file name such as heat.nrrd.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SaliencyError(f"cannot write {what} {path}: permission denied. Choose a writable location.")
    return path


def same_file(a, b) -> bool:
    """True if paths ``a`` and ``b`` name the same file (through symlinks, hard links, ``..``)."""
    return _same_file(Path(a), Path(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path, what="output"):
    """Yield a temporary path beside ``path``; on success give it normal permissions (0666 minus the umask,
    not mkstemp's 0600) and move it into place with ``os.replace``; on any failure remove it."""
    path = Path(path)
    suffix = _suffix(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    os.close(handle)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise SaliencyError(f"cannot write {what} {path}: {exc.strerror or exc}. Check free space and "
                            "permissions.") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(text: str, path, inputs=(), what="output", suffixes=(".json",)) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, with the same refusals as images."""
    path = check_output_path(path, inputs, what, suffixes)
    with atomic_output(path, what) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path


def write_image(image: sitk.Image, path, inputs=(), what="output", compress=True) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file beside it, then rename)."""
    path = check_output_path(path, inputs, what)
    suffix = _suffix(path)
    try:
        if suffix in (".nhdr", ".mhd"):  # header + separate data file: no atomic pair, write in place
            sitk.WriteImage(image, str(path), compress)
            return path
        with atomic_output(path, what) as tmp:
            sitk.WriteImage(image, tmp, compress)
    except RuntimeError as exc:
        raise SaliencyError(f"cannot write {what} {path}: {str(exc).strip().splitlines()[-1] if str(exc) else exc}. "
                            "Check free space and permissions.") from None
    return path
