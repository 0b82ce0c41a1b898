"""Checks shared by every evaluation: maps and regions must sit on the input's own grid.

Evaluations compare numbers voxel by voxel, so a map or region on another grid would give silently wrong
answers. These helpers turn what the caller passed into float64/bool numpy arrays of one agreed shape, or
raise a `SaliencyError` that names the mismatch and the fix.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import SaliencyError


def to_numpy(value, name: str) -> np.ndarray:
    """A numpy array from a numpy array or a torch tensor (detached, on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise SaliencyError(f"{name} must be a numpy array or a torch tensor, not {type(value).__name__}.") from None


def batch_maps(saliency, spatial: tuple, n: int, name: str = "saliency map") -> np.ndarray:
    """(n, *spatial) float64 maps; a single map `(*spatial)` is accepted when n == 1."""
    maps = to_numpy(saliency, name).astype(np.float64, copy=False)
    if maps.shape == tuple(spatial) and n == 1:
        maps = maps[None]
    if maps.shape != (n, *spatial):
        raise SaliencyError(
            f"The {name} has shape {maps.shape}, but the input needs {(n, *spatial)} (one map per sample at "
            f"the input's spatial size). Upsample the map to the input grid first (explain() already returns "
            f"heatmaps at the input size), or pass the matching input."
        )
    if not np.all(np.isfinite(maps)):
        raise SaliencyError(f"The {name} contains NaN or infinite values; compute it again or replace them.")
    return maps


def region_mask(region, shape: tuple, name: str = "region") -> np.ndarray:
    """A non-empty boolean mask of exactly `shape` (non-zero voxels are inside)."""
    mask = to_numpy(region, name)
    if mask.shape != tuple(shape):
        raise SaliencyError(
            f"The {name} has shape {mask.shape} but the map has {tuple(shape)}: they must share one grid. "
            f"Resample the region onto the map's grid (nearest neighbour), e.g. with the CLI's --region, "
            f"which does this through physical space."
        )
    mask = mask != 0
    if not mask.any():
        raise SaliencyError(f"The {name} is empty (no non-zero voxel); choose a label or segment that has voxels.")
    return mask
