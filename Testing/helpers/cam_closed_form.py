"""Closed-form CAM cases on PatternNet (``engine_models``): inputs and the numpy algebra the CAM tests share.

PatternNet = conv (four hand-set pattern kernels) -> ReLU -> pooling -> linear, so a layer's activations
are known in numpy (``numpy_pattern_activations``) and every CAM weight has a closed form.
"""

from __future__ import annotations

import numpy as np
import torch

SHAPES = {2: (9, 12), 3: (5, 6, 7)}


def make_input(dims: int, seed: int = 3) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0.0, 1.0, size=(1, 1) + SHAPES[dims]).astype(np.float32))


def assert_close(actual, expected, rtol=2e-4):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=0, atol=rtol * scale)


def channel_sum(weights, activations):
    """sum_c weights[c] * A_c, weights broadcast against (C, *spatial)."""
    weights = np.asarray(weights, dtype=np.float64)
    return (weights.reshape(weights.shape + (1,) * (activations.ndim - weights.ndim)) * activations).sum(0)
