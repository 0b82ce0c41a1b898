"""Writing a file without losing what the user had: refuse an output that is an input, write atomically.

Why in the foundation: volumes, pictures, reports and the CLI all write files, and each must refuse the
same things (an output that would write any file an input consists of, through symlinks and ``..`` too;
a folder; an unwritable place) and write the same way (a temporary file beside the target, moved into
place, with the permissions a new file normally gets). Stdlib only.

An input is more than its path: a detached header (``.nhdr``, ``.mhd``) names its voxel data file, a
DICOM series or a model folder is every file inside. An output is more than its path too: ``CT.nhdr``
also writes ``CT.raw.gz``. ``input_files`` and ``written_files`` expand both; ``check_writable`` refuses
any overlap. A command names its inputs once (``protecting``) and every write below it is checked against
them, including writes that were not given the inputs explicitly.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
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


# The inputs of the command now running: every output is checked against them (see ``protecting``).
_PROTECTED: contextvars.ContextVar[tuple] = contextvars.ContextVar("saliency_protected_inputs", default=())
# (paths, their InputIndex) while a command runs; () outside
_HEADER_BYTES = 1 << 20  # a detached header is a few hundred bytes; more is not a header we expand
_MAX_LISTED = 100_000


def _header_text(path: Path) -> str:
    try:
        with open(path, "rb") as stream:
            return stream.read(_HEADER_BYTES).decode("latin-1")
    except OSError:
        return ""


def _listed_files(path: Path, value: str, rest: list[str]) -> list[Path]:
    """The data files a detached header's data-file field names (one file, a LIST, or a numbered pattern)."""
    folder = path.parent
    words = value.split()
    if not words:
        return []
    if words[0].upper() == "LIST":
        return [folder / line.strip() for line in rest[:_MAX_LISTED] if line.strip()]
    if "%" in words[0] and len(words) >= 4:  # NRRD/MetaIO numbered pattern: the whole folder, to be safe
        return [folder]
    if words[0].upper() == "LOCAL":
        return []
    return [folder / value.strip()]


def input_files(path) -> list[Path]:
    """Every path an input consists of: itself, the data file(s) a ``.nhdr``/``.mhd`` header names, and
    for a folder (DICOM series, model folder) the folder itself: anything inside it belongs to the input."""
    path = Path(path)
    parts = [path]
    if path.is_file() and suffix_of(path) in (".nhdr", ".mhd", ".nrrd", ".mha"):
        lines = _header_text(path).splitlines()
        key = re.compile(r"^\s*(data ?file\s*:|ElementDataFile\s*=)\s*(.*)$", re.IGNORECASE)
        for n, line in enumerate(lines):
            match = key.match(line)
            if match:
                parts += _listed_files(path, match.group(2), lines[n + 1 :])
                break
            if not line.strip() and suffix_of(path) in (".nrrd", ".nhdr"):
                break  # the end of a NRRD header: what follows is data
    return parts


def written_files(path) -> list[Path]:
    """Every file writing ``path`` may create or replace: itself, and a detached header's data files."""
    path = Path(path)
    suffix = suffix_of(path)
    stem = path.name[: -len(suffix)] if suffix else path.name
    if suffix == ".nhdr":
        return [path, path.with_name(stem + ".raw.gz"), path.with_name(stem + ".raw")]
    if suffix == ".mhd":
        return [path, path.with_name(stem + ".zraw"), path.with_name(stem + ".raw")]
    return [path]


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _keys(path: Path) -> list:
    """What makes two paths the same file: the resolved path (symlinks, ``..``) and the inode (hard links)."""
    keys = [("path", str(_resolved(path)))]
    try:
        st = os.stat(path)
        keys.append(("inode", st.st_dev, st.st_ino))
    except OSError:
        pass
    return keys


class InputIndex:
    """Every file and folder the inputs consist of, expanded once (a cohort checks thousands of outputs
    against thousands of inputs: each check is a lookup, not a walk over the inputs)."""

    def __init__(self, inputs=()):
        self.files, self.folders = {}, []
        for given in inputs:
            if not given:
                continue
            for part in input_files(given):
                part = Path(part)
                for key in _keys(part):
                    self.files.setdefault(key, (Path(given), part))
                if part.is_dir():
                    self.folders.append((_resolved(part), Path(given), part))

    def find(self, written) -> tuple[Path, Path] | None:
        """(input given, its part) that writing ``written`` would overwrite or write inside, else None."""
        for key in _keys(Path(written)):
            if key in self.files:
                return self.files[key]
        resolved = _resolved(Path(written))
        for folder, given, part in self.folders:
            if resolved.is_relative_to(folder):
                return given, part
        return None


def find_clash(output, inputs=(), index: InputIndex | None = None) -> tuple[Path, Path, Path] | None:
    """(file written, input given, the input's part it would overwrite), or None when nothing overlaps.

    Compared through symlinks, hard links and ``..``; the inputs named by ``protecting`` count too."""
    indexes = [index if index is not None else InputIndex(inputs)]
    protected = _PROTECTED.get()
    if protected:
        indexes.append(protected[1])
    for written in written_files(output):
        for idx in indexes:
            found = idx.find(written)
            if found is not None:
                return written, found[0], found[1]
    return None


def clash_message(what, path, clash) -> str:
    """One line: which output, which input part it would overwrite, and the fix."""
    written, given, part = clash
    subject = f"{what} {path}" if Path(written) == Path(path) else f"{what} {path} would also write {written}; it"
    if Path(part) == Path(given):
        target = (
            f"is inside the input folder {given}"
            if Path(part).is_dir() and _resolved(Path(written)) != _resolved(Path(part))
            else f"is the input {given}"
        )
    elif Path(part).is_dir():
        target = f"is inside {part}, the data folder of the input {given}"
    else:
        target = f"is {part}, the data file of the input {given}"
    return f"{subject} {target}: inputs are never overwritten. Choose another output name or folder."


@contextlib.contextmanager
def protecting(paths):
    """Within the block, every checked output is also refused when it would write a file of ``paths``."""
    paths = tuple((_PROTECTED.get() or ((), None))[0]) + tuple(str(p) for p in paths if p)
    token = _PROTECTED.set((paths, InputIndex(paths)))  # expanded once, on entry
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def check_writable(path, inputs=(), what="output") -> Path:
    """Refuse an output that would write any file an input consists of, a folder, or an unwritable place."""
    path = Path(path)
    clash = find_clash(path, inputs)
    if clash is not None:
        raise SaliencyError(clash_message(what, path, clash))
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
    clash = find_clash(path)  # the last line of defence: a write nobody checked still spares the inputs
    if clash is not None:
        raise SaliencyError(clash_message(what, path, clash))
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix_of(path), dir=path.parent or ".")
    os.close(handle)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise SaliencyError(
            f"cannot write {what} {path}: {exc.strerror or exc}. Check free space and permissions."
        ) from None
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
