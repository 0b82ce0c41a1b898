"""MONAI bundles as models (placeholder, filled in below)."""
from pathlib import Path


def is_bundle(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "configs" / "metadata.json").is_file() and any(
        (path / "configs" / f"inference.{ext}").is_file() for ext in ("json", "yaml", "yml"))
