"""What an occluded window is filled with: a constant, the image mean, the patch mean, or a Gaussian blend.

Each occluder writes into one slot of the reused batch buffer (already holding a copy of the sample),
touching only the window, and says how much each voxel of the window counts when overlapping windows
are averaged (1 everywhere, or the Gaussian weight, as MONAI does for its Gaussian mode).
"""

from __future__ import annotations

import numbers

import torch

from ...errors import SaliencyError

OCCLUDERS = ("constant", "mean", "patch-mean", "gaussian")


def gaussian_bump(window: list[int], sigma: float, device, dtype) -> torch.Tensor:
    """Peak 1 at the window centre, standard deviation `sigma` x window size per axis."""
    bump = None
    for size in window:
        t = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
        axis = torch.exp(-0.5 * (t / (sigma * size)) ** 2)
        bump = axis if bump is None else bump[..., None] * axis
    return bump


class Occluder:
    r"""What an occluded window is filled with: a constant ``value``, the image mean, the window's own mean
    (``patch-mean``), or a Gaussian bump that fades the window out (``gaussian_sigma``, a fraction of the
    window). Checked once, used per batch."""

    def __init__(self, kind: str, value, sigma: float, x: torch.Tensor, window: list[int]):
        if kind not in OCCLUDERS:
            raise SaliencyError(f"occluder={kind!r} is unknown; use one of {', '.join(OCCLUDERS)}.")
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value:
            raise SaliencyError(f"value={value!r} must be a number (the constant an occluded window gets).")
        if not (isinstance(sigma, numbers.Real) and sigma > 0):
            raise SaliencyError(f"gaussian_sigma={sigma!r} must be > 0 (a fraction of the window size).")
        self.kind = kind
        self.value = float(value)
        self.image_mean = x.flatten(2).mean(2)  # (N, C)
        self.bump = gaussian_bump(window, float(sigma), x.device, x.dtype) if kind == "gaussian" else None

    def weight(self, window_shape) -> torch.Tensor | float:
        """How much each voxel of a window counts in the average over overlapping windows."""
        return self.bump if self.bump is not None else 1.0

    def apply(self, slot: torch.Tensor, sample: int, region: tuple) -> None:
        """Occlude `region` (spatial slices) of `slot` (C, *spatial), a copy of sample `sample`, in place."""
        view = slot[(slice(None), *region)]
        spatial = (1,) * (view.dim() - 1)
        if self.kind == "constant":
            view.fill_(self.value)
        elif self.kind == "mean":
            view.copy_(self.image_mean[sample].reshape(-1, *spatial).expand_as(view))
        elif self.kind == "patch-mean":
            view.copy_(view.flatten(1).mean(1).reshape(-1, *spatial).expand_as(view))
        else:
            view.mul_(1 - self.bump).add_(self.value * self.bump)
