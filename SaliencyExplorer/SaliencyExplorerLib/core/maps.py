"""N-D upsampling of maps to the input's size and per-sample normalisation to [0, 1] (1 = most important)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """(N, *s) -> (N, *size) with linear/bilinear/trilinear interpolation (never cubic: no overshoot)."""
    size = tuple(int(s) for s in size)
    if tuple(maps.shape[1:]) == size:
        return maps
    mode = _MODES[len(size)]
    return F.interpolate(maps.unsqueeze(1).float(), size=size, mode=mode, align_corners=False).squeeze(1)


def normalise(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample min-max to [0, 1]; a constant map becomes all zeros (nothing stands out)."""
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > eps, (flat - lo) / span.clamp_min(eps), torch.zeros_like(flat))
    return out.reshape(maps.shape)


def normalise_magnitude(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Signed maps: |value| / max |value| per sample, so zero attribution stays 0 and the strongest
    evidence, for or against, is 1 (min-max would put zero at mid-scale)."""
    magnitude = maps.abs()
    peak = magnitude.reshape(maps.shape[0], -1).max(dim=1).values.reshape(-1, *([1] * (maps.dim() - 1)))
    return torch.where(peak > eps, magnitude / peak.clamp_min(eps), torch.zeros_like(magnitude))
