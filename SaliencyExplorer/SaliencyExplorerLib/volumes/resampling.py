"""One resampling of a volume onto a grid through physical space: linear, nearest, or cubic B-spline as scipy
(and so nnU-Net) does it; the background past the volume a value or its edge; the memory a grid needs.

Why apart: the sampling rules (edge or constant background, scipy's spline border, skimage's clipping) are one job,
shared by the model input (geometry.py) and the model's answer on the source grid (native_labels.py).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..card import ModelCard
from ..core.resources import check_memory
from ..errors import SaliencyError
from .grid import Grid
from .intensity import value_range


def _background(image: sitk.Image, spec):
    if spec.background == "edge":
        return "edge"
    return float(value_range(image)[0]) if spec.background == "min" else float(spec.background)


def edge_padded(image: sitk.Image, grid: Grid) -> sitk.Image:
    """``image`` extended by replicating its edge voxels far enough to cover ``grid`` (MONAI's "border")."""
    inv = np.linalg.inv(Grid.of(image).matrix * np.asarray(image.GetSpacing(), float))
    idx = (grid.corners() - np.asarray(image.GetOrigin(), float)) @ inv.T  # continuous native indices
    below = np.maximum(np.ceil(-idx.min(axis=0)), 0).astype(int) + 1
    above = np.maximum(np.ceil(idx.max(axis=0) - (np.asarray(image.GetSize()) - 1)), 0).astype(int) + 1
    return sitk.ZeroFluxNeumannPad(sitk.Cast(image, sitk.sitkFloat32), [int(v) for v in below], [int(v) for v in above])


INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "nearest": sitk.sitkNearestNeighbor}


def resample_to_grid(
    image: sitk.Image, grid: Grid, *, nearest=False, background=0.0, interpolation="linear"
) -> np.ndarray:
    """``image`` sampled on ``grid`` through physical space -> float32 (k, j, i) array. ``background``: the
    value outside the volume, or "edge" (the nearest edge voxel's value, as MONAI's padding_mode "border").
    MONAI's own grid (Spacingd) is resampled in MONAI's arithmetic instead: monai_resampling.py."""
    if isinstance(background, str):  # "edge"
        image, background = edge_padded(image, grid), 0.0
    interp = sitk.sitkNearestNeighbor if nearest else INTERPOLATORS[interpolation]
    if interp == sitk.sitkBSpline:
        return _bspline_to_grid(image, grid, background)
    out = sitk.Resample(image, grid.image(), sitk.Transform(), interp, float(background), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def check_grid_memory(grid: Grid, card: ModelCard, batch: int = 1) -> None:
    """Refuse a model grid (card ``input.size``, or ``input.spacing`` over the volume's extent) too big for
    the free memory, before any array is made; the message names the grid, the numbers and the fix."""

    voxels = int(np.prod([int(n) for n in grid.size], dtype=object))
    fix = "fix input.size / input.spacing in the card (a larger spacing or a smaller size)" + (
        ", or use a smaller --batch-size" if batch > 1 else ""
    )
    what = (
        f"the model grid {' x '.join(str(n) for n in grid.size)} voxels at spacing "
        f"{', '.join(f'{s:g}' for s in grid.spacing)} mm" + (f" with batch {batch}" if batch > 1 else "")
    )
    if voxels > 2**34:  # beyond any machine: also where numpy's shapes overflow
        raise SaliencyError(f"{what} has {voxels:.3g} voxels, far more than any memory holds; {fix}.")
    # float64 resampling + float32 tensor per channel, and the model's activations (several copies)
    check_memory(voxels * max(1, card.in_channels) * 4 * 6 * max(1, batch), what, fix)


SPLINE_PAD = 12  # scipy pads this much (mode "nearest") before its mirror-boundary spline prefilter


def _bspline_to_grid(image: sitk.Image, grid: Grid, background: float) -> np.ndarray:
    """Cubic B-spline sampling with scipy's ``mode="nearest"`` border (``ndimage.zoom``/``map_coordinates``,
    hence nnU-Net's and skimage's order-3 resize): the volume is extended by replicating its edge voxels
    12 deep, then ITK's B-spline (mirror-boundary prefilter, as scipy's after its padding) samples it, and the
    result is clipped to the volume's value range (skimage's ``resize(clip=True)``: no overshoot); grid
    points beyond the volume's voxel extent still get ``background``."""
    pad = [SPLINE_PAD] * 3
    padded = sitk.ZeroFluxNeumannPad(sitk.Cast(image, sitk.sitkFloat32), pad, pad)
    out = sitk.GetArrayFromImage(
        sitk.Resample(padded, grid.image(), sitk.Transform(), sitk.sitkBSpline, float(background), sitk.sitkFloat32)
    )
    ones = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(image)
    inside = (
        sitk.GetArrayFromImage(
            sitk.Resample(ones, grid.image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        )
        > 0
    )
    low, high = value_range(image)
    return np.where(inside, np.clip(out, low, high), np.float32(background)).astype(np.float32)
