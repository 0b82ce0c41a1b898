"""The model's answer on the source's own grid, as MONAI's ``Invertd`` + ``AsDiscreted`` and nnU-Net give it:
each class brought back onto the scan's grid, the argmax taken there.

Why: taking the argmax on the model grid and bringing labels back by nearest neighbour moves every label
boundary by up to half a model voxel; the frameworks bring each class back and decide on the scan's grid,
so the tool does the same to give their answer voxel for voxel. They differ only in the way back, and
that is the only framework-specific step here: MONAI (and plain cards) resample the probabilities
linearly through patient space; nnU-Net (cards with ``input.resampling: "nnunet"``) resizes the logits in
index space onto its crop box (``nnunet_resampling.logits_to_box``), applies the activation there, and
leaves background outside the box.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .geometry import Grid, ModelInput, as_3d, edge_padded, from_layout
from .nnunet_resampling import logits_to_box


def _activated(values: np.ndarray, activation: str) -> np.ndarray:
    """(N, C, ...) logits -> probabilities along the class axis (softmax, sigmoid, or as they are)."""
    if activation == "softmax":
        e = np.exp(values - values.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-values)) if activation == "sigmoid" else values


def _physical_back(channel: np.ndarray, model_input: ModelInput, reference: sitk.Image, activation, classes):
    """One class's probability (activated on the model grid already) resampled linearly through patient space (edge values beyond the grid when the
    card pads with the edge, else 0), as MONAI's ``Invertd``."""
    on_grid = model_input.grid.image(from_layout(channel, model_input.card))
    source = edge_padded(on_grid, Grid.of(reference)) if model_input.card.input.background == "edge" else on_grid
    return sitk.GetArrayFromImage(sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                sitk.sitkFloat32))


def _nnunet_back(channel: np.ndarray, model_input: ModelInput, reference: sitk.Image, activation, classes):
    """One class's logits resized onto nnU-Net's crop box in index space, then its activation; 0 outside the
    box. Softmax over several classes keeps the logits: their argmax is the probabilities' argmax (and needs
    one class at a time only)."""
    card, box = model_input.card, model_input.native_box
    inside = logits_to_box(from_layout(channel, card)[None], model_input.grid.spacing, reference, box,
                           card.input.transpose)[0]
    if activation == "sigmoid":
        inside = 1.0 / (1.0 + np.exp(-inside))
    elif activation == "softmax" and classes == 1:
        inside = np.ones_like(inside)
    full = np.zeros(reference.GetSize()[::-1], dtype=np.float64)
    full[tuple(slice(b0, b1) for b0, b1 in box)] = inside
    return full


def argmax_on_native(values: np.ndarray, model_input: ModelInput, activation: str = "none") -> sitk.Image:
    """(N, C, *spatial) on the model grid -> labels on the reference's own grid: each class brought back, the
    argmax (one channel: > 0.5) taken there. ``values``: the model's output, made probabilities by
    ``activation`` ("none": they are already) where each framework does it: on the model grid before the
    physical way back (MONAI's ``Activationsd`` before ``Invertd``), on the native grid after nnU-Net's (it
    resamples logits). One class at a time: a running maximum, not all classes' volumes at once."""
    reference = as_3d(model_input.reference)
    back = _nnunet_back if model_input.card.input.resampling == "nnunet" else _physical_back
    if back is _physical_back and activation != "none":
        values = _activated(np.asarray(values, dtype=np.float32), activation)
    classes = values.shape[1]
    best = label = None
    for c in range(classes):
        p = back(values[:, c], model_input, reference, activation, classes)
        if classes == 1:
            label = (p > 0.5).astype(np.uint8)
        elif best is None:
            best, label = p, np.zeros(p.shape, np.uint16 if classes > 256 else np.uint8)
        else:
            better = p > best
            best, label = np.where(better, p, best), np.where(better, c, label).astype(label.dtype)
    out = sitk.GetImageFromArray(label)
    out = out[:, :, 0] if model_input.was_2d else out
    out.CopyInformation(model_input.reference)
    return out
