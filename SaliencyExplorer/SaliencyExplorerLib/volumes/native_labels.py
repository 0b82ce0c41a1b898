"""The model's answer on the source's own grid, as MONAI's ``Invertd`` + ``AsDiscreted`` and nnU-Net give it:
each class's probability brought back through physical space, the argmax taken there.

Why: taking the argmax on the model grid and bringing labels back by nearest neighbour moves every label
boundary by up to half a model voxel; the frameworks resample probabilities (linearly) and decide on the
scan's grid, so the tool does the same to give their answer voxel for voxel.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .geometry import Grid, ModelInput, as_3d, edge_padded, from_layout


def argmax_on_native(probs: np.ndarray, model_input: ModelInput) -> sitk.Image:
    """(N, C, *spatial) probabilities on the model grid -> labels on the reference's own grid: each class's
    probability resampled linearly (edge values beyond the grid when the card pads with the edge, else 0),
    the argmax (one channel: > 0.5) taken there, as MONAI's ``Invertd`` + ``AsDiscreted`` and nnU-Net do.
    One class at a time: a running maximum, not all classes' volumes at once."""
    reference = as_3d(model_input.reference)
    pad = model_input.card.input.background == "edge"
    best = label = None
    for c in range(probs.shape[1]):
        on_grid = model_input.grid.image(from_layout(probs[:, c], model_input.card))
        source = edge_padded(on_grid, Grid.of(reference)) if pad else on_grid
        p = sitk.GetArrayFromImage(sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                 sitk.sitkFloat32))
        if probs.shape[1] == 1:
            label = (p > 0.5).astype(np.uint8)
        elif best is None:
            best, label = p, np.zeros(p.shape, np.uint16 if probs.shape[1] > 256 else np.uint8)
        else:
            better = p > best
            best, label = np.where(better, p, best), np.where(better, c, label).astype(label.dtype)
    out = sitk.GetImageFromArray(label)
    out = out[:, :, 0] if model_input.was_2d else out
    out.CopyInformation(model_input.reference)
    return out
