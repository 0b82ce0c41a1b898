"""The web front door's one folder: every path from the browser is relative to ``--root`` and stays under it.

Why: a browser is another person's hand on this computer's files. Whatever it sends (a typed path, a URL
parameter, an upload's file name) is joined to the root and resolved, symlinks included; anything that
lands outside is refused with a message saying so. Results go to ``ROOT/results/`` under a name no file
has yet (never overwritten), uploads to ``ROOT/uploads/``. Standard library only, so it is tested alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import SaliencyError
from ..output_files import suffix_of

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
MODEL_SUFFIXES = (".pt", ".pth", ".ckpt", ".pt2", ".ts")
RESULTS = "results"
UPLOADS = "uploads"
MAX_ENTRIES = 5000  # a root with more files is listed in part (the path field still reaches any of them)


class Root:
    """The folder a web server may read and write; ``resolve`` is the only way from a browser path to a file."""

    def __init__(self, folder):
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise SaliencyError(
                f"--root {folder} is not a folder: give an existing folder holding your volumes "
                "and models (to try it: --root Resources/Samples, the demo's CT and model)"
            )
        self.path = path.resolve()

    def resolve(self, relative, what="path", must_exist=True) -> Path:
        """The file ``relative`` names under the root; SaliencyError when it resolves outside (or is missing)."""
        text = str(relative or "").strip()
        if not text:
            raise SaliencyError(f"no {what} given: pick one from the file list")
        candidate = (self.path / text).resolve()  # an absolute text replaces the root here, and is then refused
        if candidate != self.path and self.path not in candidate.parents:
            raise SaliencyError(
                f"{what} '{text}' is outside the root {self.path}: only files under the root can "
                "be opened; copy the file into it or pick one from the list"
            )
        if must_exist and not candidate.exists():
            raise SaliencyError(f"{what} '{text}' does not exist under the root {self.path}: pick one from the list")
        if candidate.is_dir():  # a DICOM series or a model folder: what it holds is read too
            for inner in candidate.rglob("*"):
                if not self._inside(inner):
                    raise SaliencyError(
                        f"{what} '{text}' holds '{inner.relative_to(candidate)}', which links "
                        f"outside the root {self.path}: copy the files into the root instead"
                    )
        return candidate

    def relative(self, path) -> str:
        """``path`` (under the root) as the browser names it: relative, with forward slashes."""
        return Path(path).resolve().relative_to(self.path).as_posix()

    def listing(self) -> dict:
        """What the file tree offers: ``volumes`` (files and DICOM folders), ``models`` (files and model
        folders) and ``cards`` (JSON), each a sorted list of relative paths. Links out of the root are left out."""
        from ..models.folders import folder_kind  # noqa: PLC0415  (no torch: it reads file names only)

        found = {"volumes": [], "models": [], "cards": []}
        count = 0
        for folder, dirs, files in os.walk(self.path):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and self._inside(here / d))
            for d in list(dirs):
                if folder_kind(here / d):
                    found["models"].append(self.relative(here / d))
                    dirs.remove(d)  # a model folder's own files are not offered one by one
                elif _is_dicom_folder(here / d):
                    found["volumes"].append(self.relative(here / d))
            for name in sorted(files):
                path = here / name
                count += 1
                if name.startswith(".") or not self._inside(path) or count > MAX_ENTRIES:
                    continue
                suffix = suffix_of(path)
                if suffix in VOLUME_SUFFIXES:
                    found["volumes"].append(self.relative(path))
                elif suffix in MODEL_SUFFIXES:
                    found["models"].append(self.relative(path))
                elif suffix == ".json":
                    found["cards"].append(self.relative(path))
        return {key: sorted(values) for key, values in found.items()}

    def _inside(self, path: Path) -> bool:
        resolved = path.resolve()
        return resolved == self.path or self.path in resolved.parents

    def results_path(self, name: str) -> Path:
        """``ROOT/results/<name>``, or ``<stem>-2<suffix>``, ``-3``... when taken: an existing file is never
        overwritten (each run's files stay)."""
        return free_name(self.path / RESULTS, name)

    def save_upload(self, name: str, content: bytes) -> Path:
        """Write an uploaded file into ``ROOT/uploads/`` under its own base name (a new name when taken)."""
        base = Path(str(name or "").replace("\\", "/")).name
        if base in ("", ".", "..") or base.startswith("."):
            raise SaliencyError(f"upload name '{name}' is not a file name: rename the file and upload it again")
        path = free_name(self.path / UPLOADS, base)
        with open(path, "xb") as handle:  # "x": fails rather than overwrite, even in a race
            handle.write(content)
        return path


def free_name(folder: Path, name: str) -> Path:
    """A path in ``folder`` (created) named ``name``, or with ``-2``, ``-3``, ... before the suffix when taken."""
    folder.mkdir(parents=True, exist_ok=True)
    cut = len(name) - len(suffix_of(name))
    stem, suffix = name[:cut], name[cut:]  # ".nii.gz" stays one suffix
    stem = re.sub(r"[^\w.+-]", "_", stem) or "result"
    path = folder / f"{stem}{suffix}"
    number = 2
    while path.exists() or path.is_symlink():
        path = folder / f"{stem}-{number}{suffix}"
        number += 1
    return path


def _is_dicom_folder(folder: Path) -> bool:
    """A folder holding ``.dcm`` files (or files with DICOM's ``DICM`` marker): one series to read."""
    try:
        entries = [p for p in folder.iterdir() if p.is_file()][:50]
    except OSError:
        return False
    for path in entries:
        if path.suffix.lower() == ".dcm":
            return True
        try:
            with open(path, "rb") as handle:
                handle.seek(128)
                if handle.read(4) == b"DICM":
                    return True
        except OSError:
            continue
    return False
