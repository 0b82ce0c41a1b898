"""What a removed voxel becomes in deletion/insertion: a constant, the input's mean, or a blurred input.

A constant is the classic choice; a blur (RISE's insertion baseline) avoids the sharp edges a constant
creates, which a model may react to more than to the missing content. The blur is a separable Gaussian
done with torch convolutions, so it is N-D (1-3 spatial axes) and needs no scipy.
"""

from __future__ import annotations

import numbers

import torch

from ..core.maps import gaussian_blur
from ..errors import SaliencyError


def replacement_image(x: torch.Tensor, replacement, blur_sigma: float | None = None) -> torch.Tensor:
    """The image a fully deleted input turns into (and a fully hidden insertion starts from)."""
    if isinstance(replacement, numbers.Real) and not isinstance(replacement, bool):
        return torch.full_like(x, float(replacement))
    if replacement == "mean":
        dims = tuple(range(2, x.dim()))
        return x.mean(dim=dims, keepdim=True).expand_as(x).clone()
    if replacement == "blur":
        sigma = blur_sigma if blur_sigma is not None else max(1.0, min(x.shape[2:]) / 16.0)
        if not sigma > 0:
            raise SaliencyError(f"blur_sigma must be > 0 voxels, not {blur_sigma!r}.")
        return gaussian_blur(x, float(sigma))
    raise SaliencyError(
        f"replacement must be a number (the value removed voxels take), 'mean' or 'blur'; got {replacement!r}."
    )
