"""Transformer token outputs `(N, T, C)` turned into CAM-ready feature maps `(N, C, *grid)`.

The grid is inferred from the input's spatial shape (a common patch size dividing every axis, or a
square/cubic token count), with or without leading class/register tokens; or given explicitly.
"""

from __future__ import annotations

import math

import torch

from ..errors import SaliencyError


def infer_grid(num_tokens: int, spatial_shape, max_extra: int = 8):
    """(grid, extra): the token grid and how many leading non-spatial tokens to drop; None if unknown."""
    dims = len(spatial_shape)
    for extra in range(0, max_extra + 1):
        count = num_tokens - extra
        if count <= 0:
            break
        for patch in range(1, max(spatial_shape) + 1):
            if all(s % patch == 0 for s in spatial_shape):
                grid = tuple(s // patch for s in spatial_shape)
                if math.prod(grid) == count:
                    return grid, extra
        side = round(count ** (1.0 / dims))
        if side**dims == count:
            return (side,) * dims, extra
    return None


def tokens_to_grid(tokens: torch.Tensor, spatial_shape, grid=None) -> torch.Tensor:
    """(N, T, C) -> (N, C, *grid); extra leading tokens (class token) are dropped."""
    n, t, c = tokens.shape
    if grid is not None:
        grid = tuple(int(g) for g in grid)
        extra = t - math.prod(grid)
        if extra < 0:
            raise SaliencyError(f"grid={grid} needs {math.prod(grid)} tokens but the layer has {t}.")
    else:
        found = infer_grid(t, spatial_shape)
        if found is None:
            raise SaliencyError(
                f"Cannot arrange {t} tokens of this layer into a {len(spatial_shape)}-D grid for an input "
                f"of shape {tuple(spatial_shape)}. Give the token grid explicitly, e.g. grid=(14, 14)."
            )
        grid, extra = found
    spatial = tokens[:, extra:, :]
    return spatial.transpose(1, 2).reshape(n, c, *grid)


def is_token_output(shape, spatial_dims: int) -> bool:
    """A 3-D `(N, T, C)` output from a model whose input has 2 or 3 spatial dims looks like tokens."""
    return len(shape) == 3 and spatial_dims >= 2


def as_feature_map(value: torch.Tensor, spatial_shape, grid=None) -> torch.Tensor:
    """A layer output as `(N, C, *grid)`: spatial feature maps unchanged, tokens rearranged."""
    dims = len(spatial_shape)
    if value.dim() == dims + 2:
        if all(s == 1 for s in value.shape[2:]) and any(s > 1 for s in spatial_shape):
            raise SaliencyError(
                f"The layer's output has shape {tuple(value.shape)}: no spatial extent (it comes after global "
                f"pooling), so its CAM would be constant. Choose an earlier layer with spatial output "
                f"(see list_layers), or give a larger input."
            )
        return value
    if is_token_output(value.shape, dims):
        return tokens_to_grid(value, spatial_shape, grid)
    raise SaliencyError(
        f"The layer's output has shape {tuple(value.shape)}, which is neither (N, C, *spatial) with "
        f"{dims} spatial dims nor (N, tokens, C). Choose a layer with spatial output (see list_layers)."
    )
