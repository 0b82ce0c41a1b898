"""Writing a file without losing what the user had: refuse an output that is an input, write atomically.

Why in the foundation: volumes, pictures, reports and the CLI all write files, and each must refuse the
same things (an output that is one of the inputs, through symlinks and ``..`` too; a folder; an
unwritable place) and write the same way (a temporary file beside the target, moved into place, with the
permissions a new file normally gets). Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import SaliencyError


def suffix_of(path) -> str:
    """The lower-case suffix, ``.nii.gz`` counted as one."""
    path = Path(path)
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def same_file(a, b) -> bool:
    """True if paths ``a`` and ``b`` name the same file (through symlinks, hard links, ``..``)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_writable(path, inputs=(), what="output") -> Path:
    """Refuse an output that is an input (or inside an input folder), a folder, or an unwritable place."""
    path = Path(path)
    for given in inputs:
        given = Path(given)
        if same_file(path, given) or (given.is_dir() and path.resolve().is_relative_to(given.resolve())):
            raise SaliencyError(f"{what} {path} is the input {given}: inputs are never overwritten. Choose another "
                                "output path.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SaliencyError(f"cannot write {what} {path}: the folder {folder} does not exist. Create it first.")
    if path.is_dir():
        raise SaliencyError(f"cannot write {what} {path}: it is a folder. Give a file name.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SaliencyError(f"cannot write {what} {path}: permission denied. Choose a writable location.")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path, what="output"):
    """Yield a temporary path beside ``path``; on success give it normal permissions (0666 minus the umask,
    not mkstemp's 0600) and move it into place with ``os.replace``; on any failure remove it."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix_of(path), dir=path.parent or ".")
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


def write_text(path, text: str, what="output", inputs=(), suffixes=None) -> Path:
    """``text`` written atomically (a reader never sees half a file), UTF-8, normal permissions; refused like
    any output when it is one of ``inputs`` or (given ``suffixes``) has another suffix."""
    if suffixes is not None and suffix_of(path) not in suffixes:
        raise SaliencyError(f"{what} {path} has an unknown suffix. Use one of {', '.join(suffixes)}.")
    path = check_writable(path, inputs, what)
    with atomic_output(path, what) as tmp:
        Path(tmp).write_text(text, encoding="utf-8", newline="")
    return Path(path)
