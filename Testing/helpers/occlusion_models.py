"""Occlusion cases with known answers: a linear model and the brute-force occlusion map it must give.

``WeightedSum``'s logit 0 is sum(weights * x), so hiding a window changes it by exactly
sum(weights * (x - fill)) over the window; ``expected_map`` averages those drops per voxel by brute force.
"""

import itertools

import numpy as np
import torch
from torch import nn

SHAPE = (12, 16, 8)  # non-cubic on purpose


class WeightedSum(nn.Module):
    """Logit 0 = sum(weights * x) (a model whose occlusion answer is known exactly), logit 1 = 0."""

    def __init__(self, weights):
        super().__init__()
        self.weights = torch.as_tensor(weights, dtype=torch.float32)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        score = (x * self.weights).flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], 1)


def starts(size, window, stride):
    s = list(range(0, size - window + 1, stride))
    return s if s[-1] == size - window else s + [size - window]


def expected_map(x, weights, window, stride, fill):
    """Brute force: each window's drop sum(w * (x - fill(region))), averaged per voxel with its weights."""
    acc, cnt = np.zeros(SHAPE), np.zeros(SHAPE)
    for corner in itertools.product(*[starts(s, w, t) for s, w, t in zip(SHAPE, window, stride)]):
        region = tuple(slice(c, c + w) for c, w in zip(corner, window))
        filled, weight = fill(x[region])
        acc[region] += (weights[region] * (x[region] - filled)).sum() * weight
        cnt[region] += weight
    return acc / cnt


def gaussian(window, sigma=0.25):
    bump = 1.0
    for axis, size in enumerate(window):
        t = np.arange(size) - (size - 1) / 2
        shape = [1] * len(window)
        shape[axis] = size
        bump = bump * np.exp(-0.5 * (t / (sigma * size)) ** 2).reshape(shape)
    return bump
