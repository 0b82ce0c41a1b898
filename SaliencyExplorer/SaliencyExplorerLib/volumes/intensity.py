"""Intensity normalisation from the model card: raw voxel values -> what the model was trained on.

Why a module of its own: it is the one place that knows the rules. The single-step form (window, zscore,
scale, none) takes the statistics of ``zscore`` from the whole native volume (not the resampled,
background-padded model grid), so they do not change with the card's field of view. A chain of steps
(``clip``, ``clip_percentiles``, ``zscore`` (with ``nonzero``: MONAI's ``NormalizeIntensity(nonzero=True)``,
zeros stay zero; with ``mask: "nnunet_nonzero"``: nnU-Net's ``use_mask_for_norm``, see ``nnunet_nonzero_mask``),
``scale``, ``window``, ``range``, ``range_percentiles``) runs in order, each step's
statistics taken from the values it is applied to, as MONAI's transforms and nnU-Net's normalisers do
(population standard deviation, ``numpy.percentile`` with linear interpolation).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..card import Intensity, IntensityChain


def value_range(image: sitk.Image) -> tuple[float, float]:
    """The image's smallest and largest voxel values."""
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    return stats.GetMinimum(), stats.GetMaximum()


def nnunet_nonzero_mask(channels) -> np.ndarray:
    """nnU-Net's ``create_nonzero_mask``: voxels non-zero in any channel, holes filled (``binary_fill_holes``).
    On the array cropped to its box this is the mask ``seg >= 0`` its ``ZScoreNormalization`` uses when
    ``use_mask_for_norm`` is set (the box is the mask's bounding box, so filling in the box = filling in the image)."""
    from scipy.ndimage import binary_fill_holes  # noqa: PLC0415  (optional: only nnU-Net cards need it)

    select = np.zeros(np.shape(channels[0]), dtype=bool)
    for c in channels:
        select |= np.asarray(c) != 0
    return binary_fill_holes(select)


def uses_nnunet_mask(rule) -> bool:
    """Whether ``rule`` has a ``zscore`` step with ``mask: "nnunet_nonzero"`` (it then wants the all-channel mask)."""
    steps = rule.steps if isinstance(rule, IntensityChain) else ()
    return any(s.op == "zscore" and s.get("mask") == "nnunet_nonzero" for s in steps)


def normalise_intensity(
    values: np.ndarray,
    rule: Intensity,
    native: sitk.Image | None = None,
    mask: np.ndarray | None = None,
    monai: bool = False,
) -> np.ndarray:
    """Apply ``rule`` to ``values`` (float32 array). ``native`` supplies zscore statistics when the card
    gives no mean/std; ``mask``: nnU-Net's non-zero mask over all channels (else from ``values`` alone);
    ``monai``: a chain's zscore is MONAI's ``NormalizeIntensity`` (torch's statistics, a zero std -> 1)."""
    values = np.asarray(values, dtype=np.float32)
    if isinstance(rule, IntensityChain):
        for step in rule.steps:
            values = apply_step(values, step, mask, monai)
        return values
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


def _zscore(x: np.ndarray, mean, std, monai_zero=False) -> np.ndarray:
    """(x - mean) / std, the statistics from ``x`` where not given (population std). A zero std
    divides by 1 where MONAI's NormalizeIntensity does (``monai_zero``), else by 1e-8 as before;
    ``monai_zero`` also takes them as MONAI does (torch's float32 mean and std, summed in ``x``'s order:
    its last bits), else as numpy does (nnU-Net's)."""
    if monai_zero and (mean is None or std is None):
        import torch  # noqa: PLC0415  (lazy: the Slicer side imports volumes/ without torch)

        values = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        mean = torch.mean(values).item() if mean is None else mean
        std = torch.std(values, unbiased=False).item() if std is None else std
    mean = float(x.mean()) if mean is None else mean
    std = float(x.std()) if std is None else std
    std = (1.0 if std == 0 else std) if monai_zero else max(std, 1e-8)
    return ((x - mean) / std).astype(np.float32)


def apply_step(values: np.ndarray, step, mask: np.ndarray | None = None, monai: bool = False) -> np.ndarray:
    """One chain step on a float32 array (statistics from ``values`` itself; a masked zscore's from ``mask``)."""
    op, get = step.op, step.get
    x = np.asarray(values, dtype=np.float32)
    if op == "window":
        return np.clip((x - get("min")) / (get("max") - get("min")), 0.0, 1.0).astype(np.float32)
    if op == "clip":
        return np.clip(x, get("min"), get("max")).astype(np.float32)
    if op == "clip_percentiles":
        lo, hi = np.percentile(x, [get("lower"), get("upper")])
        return np.clip(x, lo, hi).astype(np.float32)
    if op == "zscore":
        if get("mask") == "nnunet_nonzero":  # ZScoreNormalization, use_mask_for_norm: inside the mask, 0 outside
            inside = nnunet_nonzero_mask([x]) if mask is None else mask
            out = np.zeros_like(x)
            if inside.any():
                out[inside] = _zscore(x[inside], get("mean"), get("std"))
            return out
        if get("nonzero", False):  # MONAI NormalizeIntensity(nonzero=True): statistics and change on x != 0 only
            inside = x != 0
            if not inside.any():
                return x
            out = x.copy()
            out[inside] = _zscore(x[inside], get("mean"), get("std"), monai_zero=True)
            return out
        return _zscore(x, get("mean"), get("std"), monai_zero=monai)
    if op == "scale":
        return (x * get("a", 1.0) + get("b", 0.0)).astype(np.float32)
    if op in ("range", "range_percentiles"):
        if op == "range":
            a_min, a_max = get("a_min"), get("a_max")
        else:
            a_min, a_max = (float(v) for v in np.percentile(x, [get("lower"), get("upper")]))
        b_min, b_max = get("b_min"), get("b_max")
        if op == "range_percentiles" and get("relative", False):
            b_min, b_max = ((b_max - b_min) * (q / 100.0) + b_min for q in (get("lower"), get("upper")))
        if a_max == a_min:  # MONAI: a flat range only shifts
            out = x - a_min if b_min is None else x - a_min + b_min
        elif b_min is None or b_max is None:
            out = (x - a_min) / (a_max - a_min)
        else:
            out = (x - a_min) / (a_max - a_min) * (b_max - b_min) + b_min
        if get("clip", False) and b_min is not None and b_max is not None:
            out = np.clip(out, min(b_min, b_max), max(b_min, b_max))
        return np.asarray(out, dtype=np.float32)
    raise ValueError(f"unknown intensity step {op!r}")  # the card parser admits only the steps above
