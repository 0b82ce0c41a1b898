"""Signed maps are scaled by their largest magnitude: zero attribution stays 0, strongest evidence is 1."""

import numpy as np
import torch
from SaliencyExplorerLib import explain
from torch import nn


class Linear2D(nn.Module):
    """score_k = sum(w_k * x): input x gradient is exactly w_class * x (signed, known in closed form)."""

    def __init__(self, weights):
        super().__init__()
        self.w = nn.Parameter(weights)

    def forward(self, x):
        return (x.unsqueeze(1) * self.w).flatten(2).sum(2)


def test_input_x_gradient_heatmap_is_magnitude_over_peak_and_raw_keeps_sign():
    torch.manual_seed(0)
    w = torch.randn(3, 1, 12, 16)
    x = torch.randn(1, 1, 12, 16)
    res = explain(Linear2D(w), x, "inputxgradient", target=2)
    expected_raw = (w[2, 0] * x[0, 0]).numpy()
    np.testing.assert_allclose(res.raw[0], expected_raw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.heatmap[0], np.abs(expected_raw) / np.abs(expected_raw).max(), rtol=1e-5, atol=1e-6)
    x_with_zero = x.clone()
    x_with_zero[..., 5, 7] = 0.0  # no contribution there: the heatmap must say 0, not mid-scale
    assert explain(Linear2D(w), x_with_zero, "inputxgradient", target=2).heatmap[0, 5, 7] == 0.0


def test_relu_true_keeps_only_positive_evidence_min_max():
    torch.manual_seed(1)
    w = torch.randn(2, 1, 8, 8)
    x = torch.randn(1, 1, 8, 8)
    res = explain(Linear2D(w), x, "inputxgradient", target=0, relu=True)
    positive = np.clip((w[0, 0] * x[0, 0]).numpy(), 0, None)
    np.testing.assert_allclose(res.heatmap[0], positive / positive.max(), rtol=1e-5, atol=1e-6)
