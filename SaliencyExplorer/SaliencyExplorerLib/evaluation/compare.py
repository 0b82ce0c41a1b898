"""Which map to trust: run several methods on one input, check each the same way, rank them.

Every method explains the same target, fixed once from one clean forward pass; every map is scored by
deletion and insertion against ONE shared set of random orderings (random curves do not depend on the
map, so they are computed once), gets the model-randomisation sanity check and, with a region, the
pointing game and energy fraction. Each method's own time is reported.

Ranking score (higher is better)::

    faithfulness_score = (insertion_auc - random_insertion_auc) - (deletion_auc - random_deletion_auc)

Why this score: deletion and insertion each measure how much better than chance a map orders the voxels
the model relies on (deletion: the score falls faster than with a random order, so the difference is
negative when faithful; insertion: it rises faster, positive). Subtracting each random area removes what
the perturbation alone does to this model (e.g. a blank image already scoring low), so both terms are on
one scale and neither dominates because of the model's baseline; adding the two uses both views, which
fail differently (deletion rewards adversarial "holes", insertion rewards maps that reveal the most
salient texture first). 0 is a random map, the range is [-2, 2]. Sanity-flagged maps rank after every map
that passed the check, whatever their score: they may order voxels well (an image's own intensities often
do), but a map that survives randomising the model's weights does not explain the model, so it is never
the one recommended. Among themselves they are ordered by the score; `sanity_flagged` says why.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.engine import explain, prepare_input
from ..core.method import get_method
from ..core.model_call import model_output
from ..core.model_guard import guarded
from ..core.options import positive_int
from ..core.targets import resolve_target
from ..errors import SaliencyError
from ..output_files import write_text
from .faithfulness import area, faithfulness
from .inputs import batch_maps, region_mask
from .report import json_safe, localisation_report
from .sanity import sanity_check

#: What `compare` runs when no methods are given: CAMs, gradients and a model-agnostic perturbation.
DEFAULT_METHODS = ("gradcam", "hirescam", "layercam", "gradcam++", "smoothgrad", "integrated-gradients", "occlusion")
#: Options a method gets in a comparison unless the caller gives its own (occlusion: its fast mode).
FAST_OPTIONS = {"occlusion": {"mode": "fast"}}

#: The table's columns, in order (JSON rows carry the same keys).
COLUMNS = [
    "rank",
    "method",
    "faithfulness_score",
    "deletion_auc",
    "insertion_auc",
    "random_deletion_auc",
    "random_insertion_auc",
    "sanity_flagged",
    "sanity_min_correlation",
    "sanity_decorrelated_at",
    "pointing_hit",
    "energy_fraction",
    "region_fraction",
    "seconds",
    "evaluation_seconds",
    "sanity_seconds",
    "error",
]


def faithfulness_score(deletion, insertion, random_deletion, random_insertion) -> float:
    """(insertion - random insertion) - (deletion - random deletion); NaN when any part is missing."""
    parts = [deletion, insertion, random_deletion, random_insertion]
    if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in parts):
        return float("nan")
    return float((insertion - random_insertion) - (deletion - random_deletion))


def rank_rows(rows: list[dict], key: str = "faithfulness_score") -> list[dict]:
    """Sort by `key` (highest first; sanity-flagged rows after the others; failed/NaN last; then by name) and
    set `rank` 1.. (None if failed). Cohort summaries rank by score alone (their flag is a fraction)."""

    def value(row):
        v = row.get(key)
        return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else v

    ordered = sorted(rows, key=lambda r: (r.get("sanity_flagged") is True, -value(r), str(r["method"])))
    for i, row in enumerate(ordered):
        row["rank"] = i + 1 if value(row) != -math.inf else None
    return ordered


@dataclass
class Comparison:
    """Ranked rows (one per method), the maps, the curves and what the methods shared."""

    rows: list  # dicts with COLUMNS, best first
    maps: dict  # method -> (N, *spatial) float32 on the model grid
    curves: dict  # "fraction", "random_deletion", "random_insertion", method -> {"deletion", "insertion"}
    sanity: dict  # method -> SanityResult.to_dict()
    target: list
    settings: dict = field(default_factory=dict)
    shared_seconds: dict = field(default_factory=dict)  # clean forward, random baseline
    warnings: list = field(default_factory=list)  # how the target was resolved (e.g. an empty prediction)

    @property
    def ranking(self) -> list[str]:
        return [r["method"] for r in self.rows if r["rank"] is not None]

    def row(self, method: str) -> dict:
        for r in self.rows:
            if r["method"] == method:
                return r
        raise SaliencyError(f"No method {method!r} in this comparison; it has {[r['method'] for r in self.rows]}.")

    def to_dict(self, curves: bool = True) -> dict:
        out = {
            "ranking": self.ranking,
            "table": self.rows,
            "target": self.target,
            "sanity": self.sanity,
            "settings": self.settings,
            "shared_seconds": self.shared_seconds,
            "warnings": list(self.warnings),
            "score": "faithfulness_score = (insertion_auc - random_insertion_auc) - "
            "(deletion_auc - random_deletion_auc); higher is better, 0 = random",
        }
        if curves:
            out["curves"] = self.curves
        return json_safe(out)

    def write_json(self, path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def write_csv(self, path) -> None:
        write_table(path, self.rows, COLUMNS)


def write_table(path, rows: list[dict], columns: list[str]) -> None:
    """CSV with `columns` first, then any other keys the rows have; None/NaN are empty cells."""

    extra = [k for r in rows for k in r if k not in columns and not isinstance(r[k], (dict, list))]
    header = list(columns) + list(dict.fromkeys(extra))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in header})
    write_text(path, buffer.getvalue())


def _cell(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value  # a spreadsheet would run it as a formula (CSV injection): shown as text instead
    return value


def resolve_methods(methods) -> list[str]:
    """A list of registered method names (a comma-separated string is accepted); unknown names are errors."""

    if methods is None:
        return list(DEFAULT_METHODS)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    if not methods:
        raise SaliencyError("No method to compare: give at least one, e.g. methods=['gradcam', 'occlusion'].")
    names = [get_method(m).name for m in methods]  # unknown names: the registry's error with suggestions
    if len(set(names)) != len(names):
        raise SaliencyError(f"A method is listed twice in {methods}; list each method once.")
    return names


def fixed_target(model, x, target, explain_options: dict, notes: list | None = None) -> list:
    """The class explained per sample, from one clean forward pass: every method explains this one.
    ``notes`` (a list) receives the warnings of how it was resolved (e.g. nothing of the class predicted)."""

    if callable(target):
        return target
    x = prepare_input(x, model)
    with guarded(model), torch.no_grad():
        output = model_output(model, x, explain_options.get("output_key"), explain_options.get("sliding_window"))
    resolved = resolve_target(
        target,
        output,
        x.dim() - 2,
        task=explain_options.get("task"),
        mask=explain_options.get("mask"),
        activation=explain_options.get("output_activation", "auto"),
    )
    if notes is not None:
        notes.extend(resolved.notes)
    return list(resolved.classes)


def _localisation(maps: np.ndarray, region) -> dict:
    n, spatial = maps.shape[0], maps.shape[1:]
    masks = np.asarray(region)
    masks = np.broadcast_to(region_mask(masks, spatial), (n, *spatial)) if masks.shape == spatial else masks
    if masks.shape != (n, *spatial):
        region_mask(masks, spatial)  # raises: names both shapes and the fix
    parts = [localisation_report(maps[i], masks[i]) for i in range(n)]
    return {k: (parts[0][k] if n == 1 else float(np.mean([p[k] for p in parts]))) for k in parts[0]}


def compare_methods(
    model,
    x,
    methods=None,
    target=None,
    region=None,
    *,
    extra_maps: dict | None = None,
    layers=None,
    method_options: dict | None = None,
    explain_options: dict | None = None,
    steps: int = 50,
    batch_size: int = 16,
    replacement=0.0,
    blur_sigma=None,
    random_repeats: int = 3,
    sanity: bool = True,
    sanity_layers: int | None = None,
    sanity_threshold: float = 0.5,
    foreground="auto",
    seed: int = 0,
    progress=None,
    cancel=None,
) -> Comparison:
    """Explain `x` (N, C, *spatial) with every method, evaluate each map, rank them (see module docstring).

    `methods`: names (default `DEFAULT_METHODS`). `layers`: the CAM layer(s) (default: the engine's).
    `method_options`: {method: {option: value}} (occlusion defaults to mode='fast'). `explain_options`:
    engine options shared by all (task, output_activation, output_key, mask, batch_size).
    `extra_maps`: {name: map (N, *spatial) or callable f(model, x, target) -> map} judged beside the
    methods, e.g. the image itself as a control (a callable also gets the sanity check).
    `region` (*spatial or (N, *spatial), on the model grid): pointing game and energy fraction.
    A method that fails gets a row with its `error` and no rank; the others go on.
    `progress(done, total, what)` is called after each method's step.
    """

    if not isinstance(model, torch.nn.Module):
        raise SaliencyError(
            f"model must be a torch.nn.Module; got {type(model).__name__}. Load files with load_model()."
        )
    extra_maps = dict(extra_maps or {})
    names = [] if extra_maps and methods is not None and len(methods) == 0 else resolve_methods(methods)
    clash = set(extra_maps) & set(names)
    if clash:
        raise SaliencyError(f"extra map name(s) {sorted(clash)} are also method names; rename the extra maps.")
    method_options = {get_method(k).name: dict(v) for k, v in (method_options or {}).items()}
    shared = dict(explain_options or {})
    positive_int(steps, "steps")
    x = prepare_input(x, model)
    n, spatial = x.shape[0], tuple(x.shape[2:])
    if region is not None:
        _localisation(np.zeros((n, *spatial)), region)  # a bad region fails before any heavy work
    score_options = {
        k: shared[k] for k in ("output_key", "output_activation", "task", "mask", "sliding_window") if k in shared
    }
    checks = dict(
        steps=steps,
        batch_size=positive_int(batch_size, "batch_size"),
        replacement=replacement,
        blur_sigma=blur_sigma,
        seed=seed,
        cancel=cancel,
        **score_options,
    )

    tick = time.perf_counter()
    notes = []
    target_fixed = fixed_target(model, x, target, shared, notes)
    timing = {"clean_forward": time.perf_counter() - tick}
    tick = time.perf_counter()
    baseline = faithfulness(
        model,
        x,
        np.zeros((n, *spatial)),
        target=target_fixed,
        random_repeats=random_repeats,
        only_random=True,
        **checks,
    )
    timing["random_baseline"] = time.perf_counter() - tick
    curves = {
        "fraction": baseline.fractions.tolist(),
        "random_deletion": baseline.random_deletion.mean(axis=0).tolist(),
        "random_insertion": baseline.random_insertion.mean(axis=0).tolist(),
    }
    random_del, random_ins = baseline.auc("random_deletion"), baseline.auc("random_insertion")

    candidates = [(name, None) for name in names] + list(extra_maps.items())
    rows, maps, sanity_out = [], {}, {}
    for step, (name, given) in enumerate(candidates):
        row = {"method": name, "random_deletion_auc": random_del, "random_insertion_auc": random_ins, "error": None}
        try:
            tick = time.perf_counter()
            explain_fn = None
            if given is None:
                cls = get_method(name)
                opts = {**FAST_OPTIONS.get(name, {}), **method_options.get(name, {})}
                engine = {**shared, **opts}
                if cls.uses_layers and layers is not None:
                    engine["layers"] = layers
                result = explain(model, x, method=name, target=target_fixed, cancel=cancel, **engine)
                heat = np.asarray(result.heatmap, dtype=np.float64)
                if cls.uses_layers:
                    engine["layers"] = list(result.layers)
            elif callable(given):
                explain_fn = given
                outcome = given(model, x, target_fixed)
                heat = np.asarray(getattr(outcome, "heatmap", outcome), dtype=np.float64)
            else:
                heat = np.asarray(
                    given.detach().cpu().numpy() if isinstance(given, torch.Tensor) else given, dtype=np.float64
                )
            heat = batch_maps(heat, spatial, n, f"map of {name!r}")
            row["seconds"] = time.perf_counter() - tick
            maps[name] = heat.astype(np.float32)

            tick = time.perf_counter()
            faith = faithfulness(model, x, heat, target=target_fixed, baseline=baseline, **checks)
            row["deletion_auc"], row["insertion_auc"] = faith.auc("deletion"), faith.auc("insertion")
            row["faithfulness_score"] = faithfulness_score(
                row["deletion_auc"], row["insertion_auc"], random_del, random_ins
            )
            curves[name] = {
                "deletion": faith.deletion.mean(axis=0).tolist(),
                "insertion": faith.insertion.mean(axis=0).tolist(),
            }
            if region is not None:
                row.update(_localisation(heat, region))
            row["evaluation_seconds"] = time.perf_counter() - tick

            if sanity and (given is None or explain_fn is not None):
                tick = time.perf_counter()
                kwargs = {"explain_fn": explain_fn} if explain_fn else {"method": name, "explain_options": engine}
                check = sanity_check(
                    model,
                    x,
                    target=target_fixed,
                    mode="cascade",
                    threshold=sanity_threshold,
                    max_layers=sanity_layers,
                    seed=seed,
                    cancel=cancel,
                    foreground=foreground,
                    **kwargs,
                )
                sanity_out[name] = check.to_dict()
                row["sanity_flagged"] = check.flagged
                row["sanity_min_correlation"] = check.minimum_correlation
                row["sanity_decorrelated_at"] = check.decorrelated_at
                row["sanity_seconds"] = time.perf_counter() - tick
        except SaliencyError as exc:
            row["error"] = str(exc)
        except RuntimeError as exc:  # torch refusing this method on this model: recorded, the others go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            row["error"] = f"{type(exc).__name__}: {first}"
        row.setdefault("faithfulness_score", float("nan"))
        rows.append(row)
        if progress is not None:
            progress(step + 1, len(candidates), name)
    settings = {
        "steps": steps,
        "batch_size": batch_size,
        "replacement": replacement,
        "blur_sigma": blur_sigma,
        "random_repeats": random_repeats,
        "seed": seed,
        "sanity": sanity,
        "sanity_layers": sanity_layers,
        "sanity_threshold": sanity_threshold,
        "methods": names,
        "extra_maps": list(extra_maps),
        "method_options": {k: {**FAST_OPTIONS.get(k, {}), **method_options.get(k, {})} for k in names},
    }
    target_out = target_fixed if not callable(target_fixed) else None
    return Comparison(rank_rows(rows), maps, curves, sanity_out, target_out, settings, timing, notes)


def curve_area(fractions, scores) -> float:
    """Area under one curve (for checks on stored curves)."""
    return float(area(np.asarray(fractions), np.asarray(scores)))
