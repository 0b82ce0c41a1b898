"""A cohort's stored per-case results: what produced each one, and whether it can be used again.

Why: a re-run of a cohort skips the cases already done, so a stored result must be the answer to the
same question. Each record carries a key: the SHA-256 of the image, region and model files (a folder:
every file in it), of the card, the method list, the options, the target and the library version. A
record is reused only when its key matches this run's and it validates: the expected shape, exactly the
methods asked for, finite numbers in their ranges, and no text a spreadsheet would run as a formula
(``=HYPERLINK(...)``). Anything else is ignored and computed again, never trusted and never a crash.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ..card import find_card_for
from ..file_hash import file_sha256, model_sha256
from ..output_files import input_files
from ..version import __version__

# A stored case file larger than this is not one we wrote (a few kB per method): it is not read at all.
MAX_RECORD_BYTES = 8 << 20
# Values with a known range; any other number must be finite and below LARGEST.
RANGES = {
    "deletion_auc": (0.0, 1.0),
    "insertion_auc": (0.0, 1.0),
    "random_deletion_auc": (0.0, 1.0),
    "random_insertion_auc": (0.0, 1.0),
    "faithfulness_score": (-2.0, 2.0),
    "energy_fraction": (0.0, 1.0),
    "region_fraction": (0.0, 1.0),
    "sanity_min_correlation": (-1.0, 1.0),
    "pointing_hit": (0.0, 1.0),
    "sanity_flagged": (0.0, 1.0),
}
LARGEST = 1e12
# A cell starting with one of these is a formula to Excel/LibreOffice (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def path_sha256(path) -> str | None:
    """One SHA-256 for everything an input consists of (a header and its data file, a folder's files)."""
    if not path:
        return None
    digest = hashlib.sha256()
    for part in input_files(path):
        part = Path(part)
        if part.is_dir():
            digest.update(f"dir:{model_sha256(part)}\n".encode())
        elif part.is_file():
            digest.update(f"{part.name}:{file_sha256(part)}\n".encode())
        else:
            digest.update(f"missing:{part.name}\n".encode())
    return digest.hexdigest()


def run_key(model, card, methods, options) -> dict:
    """What every case of this run shares: model and card hashes, methods, options, library version."""
    if card is None and model and Path(model).is_file():
        card = find_card_for(model)
    return {
        "version": __version__,
        "model": path_sha256(model),
        "card": path_sha256(card),
        "methods": list(methods),
        "options": json.loads(json.dumps(options or {}, sort_keys=True, default=repr)),
    }


def case_key(case, shared: dict) -> str:
    """The key of one case's result: the run's key plus its image, region and target."""
    key = {
        **shared,
        "case": case.name,
        "image": path_sha256(case.image),
        "region": path_sha256(case.region),
        "target": case.target,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=repr).encode()).hexdigest()


def read_record(path) -> dict | None:
    """The JSON in a stored case file, or None when it is missing, too large, nested too deeply or not JSON."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _safe_value(value, depth: int = 0) -> bool:
    if depth > 12:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value) and abs(value) < LARGEST
    if isinstance(value, str):
        return not value.startswith(FORMULA_STARTS) and len(value) < 10_000
    if isinstance(value, list):
        return all(_safe_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _safe_value(v, depth + 1) for k, v in value.items())
    return False


def _valid_row(row, methods) -> bool:
    if not isinstance(row, dict) or row.get("method") not in methods or not _safe_value(row):
        return False
    for key, (low, high) in RANGES.items():
        value = row.get(key)
        if value is not None and not (isinstance(value, (int, float)) and low <= float(value) <= high):
            return False
    rank = row.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= len(methods)):
        return False
    return all(
        row.get(k) is None or (isinstance(row[k], (int, float)) and row[k] >= 0)
        for k in ("seconds", "evaluation_seconds", "sanity_seconds")
    )


def problem(record, case_name: str, key: str, methods) -> str | None:
    """Why a stored record cannot be reused (None when it can): another key, another case, a failed run,
    other methods, a value out of range or a formula."""
    if not isinstance(record, dict):
        return "not a record"
    if record.get("key") != key:
        return "made from other inputs, model, card, methods or options"
    if record.get("case") != case_name or record.get("error") is not None:
        return "another case, or a failed one"
    table = record.get("table")
    if not isinstance(table, list) or not table or not all(_valid_row(row, methods) for row in table):
        return "a result row does not validate"
    if sorted(row["method"] for row in table) != sorted(methods):
        return "other methods"
    if not _safe_value(record):
        return "a value does not validate"
    return None
