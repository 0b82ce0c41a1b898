"""A small differentiable 3D model for the gradient-method tests, and the autograd gradient they compare to."""

from __future__ import annotations

import torch
from torch import nn


class CountingModel(nn.Module):
    """A small 3D CNN that counts its forward calls (to prove errors come before any evaluation)."""

    def __init__(self, channels=2, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv3d(channels, 4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv3d(4, 4, 3, padding=1),
            nn.Tanh(),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
            nn.Linear(4, classes),
        )
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.body(x)


def autograd_gradient(model, x, target):
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf)[:, target].sum(), leaf)
    return grad.numpy()
