"""Guided backprop on a hand-built model whose guided gradient is computed by hand; the model is left intact."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from SaliencyExplorerLib import explain
from torch import nn

W1 = np.array([[1.0, -2.0, 0.5, 1.0], [-1.0, 1.0, 1.0, 0.0], [0.5, 0.5, -1.0, 2.0]])
W2 = np.array([[1.0, -1.0, 2.0], [-2.0, 1.0, 1.0]])
W3 = np.array([[1.5, -1.0], [0.0, 0.0]])
X = np.array([1.0, -0.5, 2.0, 0.25])


def hand_built(inplace: bool) -> nn.Module:
    layers = [
        nn.Flatten(),
        nn.Linear(4, 3, bias=False),
        nn.ReLU(inplace=inplace),
        nn.Linear(3, 2, bias=False),
        nn.ReLU(inplace=inplace),
        nn.Linear(2, 2, bias=False),
    ]
    model = nn.Sequential(*layers)
    for layer, weight in zip([layers[1], layers[3], layers[5]], [W1, W2, W3]):
        layer.weight.data = torch.tensor(weight, dtype=torch.float32)
    return model


def guided_by_hand():
    h1 = W1 @ X
    h2 = W2 @ np.maximum(h1, 0)
    g2 = np.maximum(W3[0], 0) * (h2 > 0)  # negative gradients through a ReLU are zeroed
    g1 = np.maximum(W2.T @ g2, 0) * (h1 > 0)
    return W1.T @ g1


def plain_by_hand():
    h1 = W1 @ X
    h2 = W2 @ np.maximum(h1, 0)
    return W1.T @ ((W2.T @ (W3[0] * (h2 > 0))) * (h1 > 0))


@pytest.mark.parametrize("inplace", [False, True])
def test_guided_backprop_matches_hand_computation_and_restores_relus(inplace):
    model = hand_built(inplace)
    x = torch.tensor(X, dtype=torch.float32).reshape(1, 1, 4)
    res = explain(model, x, "guided-backprop", target=0, relu=False, reduce="sum")
    expected = guided_by_hand()
    assert not np.allclose(expected, plain_by_hand())  # the hand-built case really exercises the guidance
    np.testing.assert_allclose(res.extras["attributions"][0, 0], expected, rtol=1e-6)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert all(r.inplace == inplace and not r._forward_hooks and not r._backward_hooks for r in relus)
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf)[0, 0], leaf)
    np.testing.assert_allclose(grad[0, 0].numpy(), plain_by_hand(), rtol=1e-6)  # plain gradients again


def test_hooks_removed_when_the_forward_fails():
    model = hand_built(True)
    with pytest.raises(Exception):
        explain(model, torch.zeros(1, 1, 5), "guided-backprop")
    assert all(not m._forward_hooks for m in model.modules())


def test_functional_relus_are_reported():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act, self.fc = nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(F.relu(self.act(self.conv(x))).mean((2, 3)))

    res = explain(Functional(), torch.randn(1, 1, 8, 8), "guided-backprop")
    assert any("functional relu" in w for w in res.warnings)


def test_guided_gradcam_is_guided_backprop_times_gradcam():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    x = torch.randn(1, 1, 10, 12)
    guided = explain(model, x, "guided-backprop", target=1, relu=False, reduce="sum")
    cam = explain(model, x, "gradcam", layers="2", target=1, relu=False)
    combined = explain(model, x, "guided-gradcam", layers="2", target=1, relu=False, reduce="sum")
    expected = guided.extras["attributions"][:, 0] * np.maximum(cam.raw, 0)
    np.testing.assert_allclose(combined.raw, expected, rtol=1e-5, atol=1e-7)
