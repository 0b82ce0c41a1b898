"""Intensity normalisation from the model card: raw voxel values -> what the model was trained on.

Why a module of its own: it is the one place that knows the four rules (window, zscore, scale, none), and
the statistics of ``zscore`` come from the whole native volume (not the resampled, background-padded model
grid), so they do not change with the card's field of view.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..card import Intensity


def normalise_intensity(values: np.ndarray, rule: Intensity, native: sitk.Image | None = None) -> np.ndarray:
    """Apply ``rule`` to ``values`` (float32 array). ``native`` supplies zscore statistics when the card
    gives no mean/std."""
    values = np.asarray(values, dtype=np.float32)
    if rule.type == "window":
        return np.clip((values - rule.min) / (rule.max - rule.min), 0.0, 1.0).astype(np.float32)
    if rule.type == "scale":
        return (values * rule.a + rule.b).astype(np.float32)
    if rule.type == "zscore":
        mean, std = rule.mean, rule.std
        if mean is None or std is None:
            stats = sitk.StatisticsImageFilter()
            stats.Execute(native if native is not None else sitk.GetImageFromArray(values))
            mean = stats.GetMean() if mean is None else mean
            std = stats.GetSigma() if std is None else std
        return ((values - mean) / (std if std > 0 else 1.0)).astype(np.float32)
    return values
