"""Cropping to the foreground, as nnU-Net and MONAI's ``CropForegroundd`` do: the bounding box of the
selected voxels, grown by a margin. ``geometry`` applies it before resampling (native) or to the model grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from .intensity import normalise_intensity, value_range


def crop_box(select: np.ndarray, margin) -> tuple | None:
    """Bounding box (start, stop) per (k, j, i) axis of the True voxels, grown by ``margin`` (i, j, k) and
    clamped to the array; None when nothing is selected."""
    if not select.any():
        return None
    box = []
    for axis, m in zip(range(3), tuple(margin)[::-1]):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(select.any(axis=other))
        box.append((max(int(hits[0]) - m, 0), min(int(hits[-1]) + 1 + m, select.shape[axis])))
    return tuple(box)


def selected_voxels(values: np.ndarray, crop) -> np.ndarray:
    """The voxels the card's ``crop_foreground`` keeps: non-zero, or above its threshold."""
    return values != 0 if crop.select == "nonzero" else values > crop.threshold


def crop_native(vol: sitk.Image, crop, rule) -> sitk.Image:
    """nnU-Net's / MONAI's crop before resampling: the sub-image inside the foreground's bounding box."""
    values = sitk.GetArrayFromImage(vol).astype(np.float32)
    if crop.source == "normalised":
        values = normalise_intensity(values, rule, vol)
    box = crop_box(selected_voxels(values, crop), crop.margin)
    if box is None:
        raise SaliencyError(f"the card's crop_foreground selects no voxel (select {crop.select!r}, threshold "
                            f"{crop.threshold}); the volume's range is {value_range(vol)}. Check the card.")
    return vol[box[2][0]:box[2][1], box[1][0]:box[1][1], box[0][0]:box[0][1]]
