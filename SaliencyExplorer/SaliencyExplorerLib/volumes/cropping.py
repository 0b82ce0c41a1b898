"""Cropping to the foreground, as nnU-Net and MONAI's ``CropForegroundd`` do: the bounding box of the
selected voxels, grown by a margin. ``geometry`` applies it before resampling (native) or to the model grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from .intensity import normalise_intensity, value_range


def crop_box(select: np.ndarray, margin, allow_smaller: bool = True) -> tuple | None:
    """Bounding box (start, stop) per (k, j, i) axis of the True voxels, grown by ``margin`` (i, j, k); clamped
    to the array when ``allow_smaller`` (else it may reach past the edge, as MONAI's default does); None when
    nothing is selected."""
    if not select.any():
        return None
    box = []
    for axis, m in zip(range(3), tuple(margin)[::-1]):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(select.any(axis=other))
        start, stop = int(hits[0]) - m, int(hits[-1]) + 1 + m
        box.append((max(start, 0), min(stop, select.shape[axis])) if allow_smaller else (start, stop))
    return tuple(box)


def take_box(values: np.ndarray, box) -> np.ndarray:
    """``values[box]`` (k, j, i), padded with 0 where the box reaches past the array (MONAI's constant pad)."""
    before = [max(-b[0], 0) for b in box]
    after = [max(b[1] - n, 0) for b, n in zip(box, values.shape)]
    if any(before) or any(after):
        values = np.pad(values, list(zip(before, after)))
    return values[tuple(slice(b[0] + p, b[1] + p) for b, p in zip(box, before))]


def selected_voxels(values: np.ndarray, crop) -> np.ndarray:
    """The voxels the card's ``crop_foreground`` keeps: non-zero, or above its threshold."""
    return values != 0 if crop.select == "nonzero" else values > crop.threshold


def crop_native(vol: sitk.Image, crop, rule) -> sitk.Image:
    """nnU-Net's / MONAI's crop before resampling: the sub-image inside the foreground's bounding box."""
    values = sitk.GetArrayFromImage(vol).astype(np.float32)
    if crop.source == "normalised":
        values = normalise_intensity(values, rule, vol)
    box = crop_box(selected_voxels(values, crop), crop.margin, crop.allow_smaller)
    if box is None:
        raise SaliencyError(
            f"the card's crop_foreground selects no voxel (select {crop.select!r}, threshold "
            f"{crop.threshold}); the volume's range is {value_range(vol)}. Check the card."
        )
    before = [max(-b[0], 0) for b in box[::-1]]  # i, j, k
    after = [max(b[1] - n, 0) for b, n in zip(box[::-1], vol.GetSize())]
    if any(before) or any(after):  # the margin reaches past the volume: pad with 0, as MONAI does
        vol = sitk.ConstantPad(vol, before, after, 0.0)
        box = tuple((b[0] + p, b[1] + p) for b, p in zip(box, before[::-1]))
    return vol[box[2][0] : box[2][1], box[1][0] : box[1][1], box[0][0] : box[0][1]]
