"""The SHA-256 of a model file or folder, for provenance: torch-free, so the Slicer side can record it
without torch."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(files) -> str:
    """One SHA-256 for a model made of several files: of the names and SHA-256s of ``files``, in order."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{Path(f).name}:{file_sha256(f)}\n".encode())
    return digest.hexdigest()


def model_sha256(path) -> str:
    """A model file's SHA-256, or for a model folder (nnU-Net, MONAI bundle) that of every file in it, by
    relative path: a one-off read of the folder, so the record names exactly what was explained."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.relative_to(path).as_posix()}:{file_sha256(f)}\n".encode())
    return digest.hexdigest()
