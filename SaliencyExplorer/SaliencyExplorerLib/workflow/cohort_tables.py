"""A cohort's tables: one row per case and method (``cases.csv``), one per method (``summary.csv``: means with
95% percentile-bootstrap intervals over the cases, and the rank by mean faithfulness score).

Why apart: the statistics are pure functions of the case records; cohort.py runs the cases and writes them.
Intervals: 2000 resamples of the cases with replacement (seed 0), the 2.5th and 97.5th percentiles of the
resampled means; empty with fewer than 2 cases.
"""

from __future__ import annotations

import math

import numpy as np

CASE_COLUMNS = [
    "case",
    "method",
    "rank",
    "faithfulness_score",
    "pointing_hit",
    "energy_fraction",
    "deletion_auc",
    "insertion_auc",
    "random_deletion_auc",
    "random_insertion_auc",
    "sanity_flagged",
    "seconds",
    "error",
]
SUMMARY_METRICS = [
    ("pointing_game", "pointing_hit"),
    ("energy_fraction", "energy_fraction"),
    ("deletion_auc", "deletion_auc"),
    ("insertion_auc", "insertion_auc"),
    ("faithfulness_score", "faithfulness_score"),
]
SUMMARY_COLUMNS = (
    ["method", "cases", "failed"]
    + [c for name, _ in SUMMARY_METRICS for c in (name, f"{name}_ci_low", f"{name}_ci_high")]
    + ["random_deletion_auc", "random_insertion_auc", "sanity_flagged_fraction", "seconds", "rank"]
)


def case_rows(record: dict, methods: list[str]) -> list[dict]:
    """cases.csv rows of one record: one per method (a failed case: one per requested method, with its error)."""
    if record.get("error") is not None or not record.get("table"):
        return [
            {
                "case": record["case"],
                "method": m,
                "error": record.get("error") or "no result",
                "seconds": record.get("seconds"),
            }
            for m in methods
        ]
    return [{"case": record["case"], **row} for row in record["table"]]


def bootstrap_interval(values, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean; (nan, nan) with fewer than 2 values."""
    values = np.asarray(
        [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float
    )
    if values.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(rows: list[dict], methods: list[str]) -> list[dict]:
    """summary.csv rows: per method, cases with numbers, failed, means with 95% intervals, rank."""
    from ..evaluation.compare import rank_rows  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    def numbers(group, key):
        out = []
        for r in group:
            v = r.get(key)
            if isinstance(v, bool):
                v = float(v)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append(float(v))
        return out

    names = list(dict.fromkeys(methods))  # only the methods asked for, whatever else a row may name
    summary = []
    for name in names:
        group = [r for r in rows if r.get("method") == name]
        ok = [r for r in group if not r.get("error")]
        entry = {"method": name, "cases": len(ok), "failed": len(group) - len(ok)}
        for out_key, key in SUMMARY_METRICS:
            vals = numbers(ok, key)
            entry[out_key] = float(np.mean(vals)) if vals else float("nan")
            entry[f"{out_key}_ci_low"], entry[f"{out_key}_ci_high"] = bootstrap_interval(vals)
        for key in ("random_deletion_auc", "random_insertion_auc", "seconds"):
            vals = numbers(ok, key)
            entry[key] = float(np.mean(vals)) if vals else float("nan")
        flags = numbers(ok, "sanity_flagged")
        entry["sanity_flagged_fraction"] = float(np.mean(flags)) if flags else float("nan")
        summary.append(entry)
    return rank_rows(summary)
