"""A cohort's cases: from a CSV (`image`, optional `region`, `target`, `case`; paths relative to the CSV) or a
folder (every image file is a case; `<stem>_region.<ext>` beside it is its region), with unique file-safe ids
(``x, x_2, x`` -> ``x, x_2, x_3``, compared without case): one result file per case.

Why apart: reading and naming the cases is plain data, checked before any worker starts (cohort.py).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SaliencyError

IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
REGION_SUFFIXES = ("_region", "_mask", "_label", "_seg")


@dataclass(frozen=True)
class Case:
    name: str
    image: str
    region: str | None = None
    target: str | int | None = None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _stem(path: Path) -> str:
    return path.name[: -len(_suffix(path))] if _suffix(path) else path.name


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "case"


def _unique(cases: list[Case]) -> list[Case]:
    """Distinct file-safe names (compared without case, as on macOS and Windows): x, x_2, x -> x, x_2, x_3."""
    used, out = set(), []
    for case in cases:
        base = name = safe_name(case.name)
        number = 1
        while name.lower() in used:
            number += 1
            name = f"{base}_{number}"
        used.add(name.lower())
        out.append(Case(name, case.image, case.region, case.target))
    return out


def _target(text):
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def read_cases(source) -> list[Case]:
    """Cases from a CSV file or a folder of images (see the module docstring)."""
    source = Path(source)
    if not source.exists():
        raise SaliencyError(f"--cases {source} does not exist; give a CSV of cases or a folder of images.")
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and _suffix(p) in IMAGE_SUFFIXES)
        images = [p for p in files if not _stem(p).lower().endswith(REGION_SUFFIXES)]
        cases = []
        for image in images:
            region = next((p for p in files if _stem(p) == _stem(image) + "_region"), None)
            cases.append(Case(_stem(image), str(image), str(region) if region else None))
    else:
        try:
            with open(source, newline="") as stream:
                rows = list(csv.DictReader(stream))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SaliencyError(
                f"cannot read the cases CSV {source} ({exc}); give a UTF-8 CSV with an 'image' column."
            ) from None
        if not rows or "image" not in rows[0]:
            raise SaliencyError(
                f"the cases CSV {source} has no 'image' column (or no row); its header must name "
                "image (and optionally region, target, case)."
            )
        base, cases = source.parent, []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or any("\x00" in str(v) for v in row.values() if v is not None):
                raise SaliencyError(f"row {i + 2} of {source} holds a NUL byte; give a plain-text CSV.")
            image = (row.get("image") or "").strip()
            if not image:
                raise SaliencyError(f"row {i + 2} of {source} has an empty 'image'; give each case an image path.")
            region = (row.get("region") or "").strip()
            name = (row.get("case") or "").strip() or _stem(Path(image))
            cases.append(
                Case(name, str(base / image), str(base / region) if region else None, _target(row.get("target")))
            )
    if not cases:
        raise SaliencyError(f"no case found in {source}: a folder needs .nrrd/.nii(.gz)/.mha images, a CSV rows.")
    return _unique(cases)
