"""Localisation: does the map point at the region a human marked (a label map or a Slicer segment)?

Two numbers, both on one grid: the pointing game (is the map's peak inside the region, within an optional
tolerance in millimetres) and the fraction of the map's energy (its positive mass) inside the region.
"""

from __future__ import annotations

import numpy as np

from ..errors import SaliencyError
from .inputs import region_mask, to_numpy


def _single_map(heatmap) -> np.ndarray:
    values = to_numpy(heatmap, "heatmap").astype(np.float64, copy=False)
    if values.ndim < 1 or values.size == 0:
        raise SaliencyError(f"The heatmap must be a non-empty 1-3D array; got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise SaliencyError("The heatmap contains NaN or infinite values; compute it again or replace them.")
    return values


def pointing_game(heatmap, region, tolerance_mm: float = 0.0, spacing=None) -> bool:
    """True when the map's peak lies inside `region` (or within `tolerance_mm` of it).

    Ties are judged strictly: when several voxels share the maximum, every one of them must hit, so a flat
    map only "points" at a region that covers the whole image.
    """
    values = _single_map(heatmap)
    mask = region_mask(region, values.shape)
    peaks = np.argwhere(values == values.max())
    if tolerance_mm <= 0:
        return bool(all(mask[tuple(p)] for p in peaks))
    scale = np.ones(values.ndim) if spacing is None else np.asarray(spacing, dtype=np.float64)
    if scale.shape != (values.ndim,):
        raise SaliencyError(f"spacing must give one value per map axis ({values.ndim}); got {spacing!r}.")
    inside = np.argwhere(mask) * scale
    for peak in peaks:
        if np.min(np.linalg.norm(inside - peak * scale, axis=1)) > tolerance_mm:
            return False
    return True


def energy_fraction(heatmap, region) -> float:
    """Share of the map's positive mass inside the region, in [0, 1]; NaN for a map with no positive mass."""
    values = _single_map(heatmap)
    mask = region_mask(region, values.shape)
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if total <= 0:
        return float("nan")
    return float(positive[mask].sum() / total)
