"""One call for every check of one explanation, as plain JSON-ready data.

The CLI `evaluate` command prints it, the Slicer panel shows it as a table and a plot (`mrml.evaluation_nodes`).
Faithfulness and sanity run on the model's grid; localisation runs on whatever grid the caller gives
the map and region (the CLI uses the source image's own grid, where the user drew the region).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.options import DEFAULT_METHOD
from .faithfulness import faithfulness
from .inputs import batch_maps, region_mask, to_numpy
from .localisation import energy_fraction, pointing_game
from .sanity import sanity_check


def json_safe(value):
    """NaN/inf become None and numpy scalars plain Python numbers, so `json.dumps` writes valid JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def localisation_report(heatmap, region, tolerance_mm: float = 0.0, spacing=None) -> dict:
    """`pointing_hit` and `energy_fraction` of one map (*spatial) and a region on the same grid, and
    `region_fraction`: the region's share of the voxels, the energy fraction a flat map would get."""
    mask = region_mask(region, np.shape(heatmap))
    return {
        "pointing_hit": pointing_game(heatmap, mask, tolerance_mm=tolerance_mm, spacing=spacing),
        "energy_fraction": energy_fraction(heatmap, mask),
        "region_fraction": float(mask.mean()),
    }


def evaluate_explanation(
    model,
    x,
    heatmap,
    target=None,
    method: str = DEFAULT_METHOD,
    *,
    region=None,
    steps: int = 50,
    batch_size: int = 16,
    replacement=0.0,
    blur_sigma=None,
    random_repeats: int = 3,
    sanity: bool = True,
    sanity_mode: str = "cascade",
    max_layers: int | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    explain_fn=None,
    explain_options: dict | None = None,
    foreground="auto",
    progress=None,
    cancel=None,
) -> dict:
    """Faithfulness (+ random baseline), sanity check and, with `region` on the map's grid, localisation.

    `heatmap` (N, *spatial) is the map being judged, for `target` (as explain() reported it);
    `explain_options` (layers, task, mask, output_key, ...) are reused when the sanity check recomputes
    the map with `method` on randomised copies of the model. `foreground` ("auto", None for the whole grid,
    or a body mask on the map's grid) is where the sanity check compares maps.
    """
    options = dict(explain_options or {})
    n, spatial = x.shape[0], tuple(x.shape[2:])
    maps = batch_maps(heatmap, spatial, n, "heatmap")
    score_options = {
        k: options[k] for k in ("output_key", "output_activation", "task", "mask", "sliding_window") if k in options
    }
    faith = faithfulness(
        model,
        x,
        maps,
        target=target,
        steps=steps,
        batch_size=batch_size,
        replacement=replacement,
        blur_sigma=blur_sigma,
        random_repeats=random_repeats,
        seed=seed,
        progress=progress,
        cancel=cancel,
        **score_options,
    )
    out = faith.to_dict()
    if sanity:
        out["sanity"] = sanity_check(
            model,
            x,
            method=method,
            target=target,
            explain_fn=explain_fn,
            mode=sanity_mode,
            threshold=threshold,
            max_layers=max_layers,
            seed=seed,
            progress=progress,
            cancel=cancel,
            explain_options=options,
            foreground=foreground,
        ).to_dict()
    if region is not None:
        masks = to_numpy(region, "region")
        if masks.shape == spatial:
            masks = np.broadcast_to(masks, (n, *spatial))
        elif masks.shape != (n, *spatial):
            region_mask(masks, spatial)  # raises: names both shapes and the fix
        parts = [localisation_report(maps[i], masks[i]) for i in range(n)]
        out.update(parts[0] if n == 1 else {k: [p[k] for p in parts] for k in parts[0]})
    return json_safe(out)
