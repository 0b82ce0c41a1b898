"""Gradient methods against independent truth: autograd, completeness, captum; bad options fail early."""

import numpy as np
import pytest
import torch
from torch import nn

from SaliencyExplorerLib import SaliencyError, explain


class CountingModel(nn.Module):
    """A small 3D CNN that counts its forward calls (to prove errors come before any evaluation)."""

    def __init__(self, channels=2, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv3d(channels, 4, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv3d(4, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool3d(1),
                                  nn.Flatten(), nn.Linear(4, classes))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.body(x)


@pytest.fixture
def model():
    return CountingModel().eval()


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(2, 2, 6, 7, 5)


def autograd_gradient(model, x, target):
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(leaf)[:, target].sum(), leaf)
    return grad.numpy()


def test_saliency_is_autograd_gradient_of_target_score(model, x):
    res = explain(model, x, "saliency", target=2)
    grad = autograd_gradient(model, x, 2)
    np.testing.assert_allclose(res.extras["attributions"], grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.raw, np.abs(grad).max(1), rtol=1e-5, atol=1e-7)
    assert res.passes == {"forward": 2, "backward": 2}  # one batched forward + backward, no probe
    assert all(p.grad is None for p in model.parameters())  # no parameter gradients left behind


def test_input_x_gradient(model, x):
    res = explain(model, x, "inputxgradient", target=0, relu=False)
    expected = x.numpy() * autograd_gradient(model, x, 0)
    np.testing.assert_allclose(res.extras["attributions"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.raw, expected.sum(1), rtol=1e-5, atol=1e-6)


def test_smoothgrad_without_noise_is_the_gradient(model, x):
    res = explain(model, x, "smoothgrad", target=1, noise=0.0, samples=3, magnitude=False, batch_size=4)
    np.testing.assert_allclose(res.extras["attributions"], autograd_gradient(model, x, 1), rtol=1e-5, atol=1e-7)
    squared = explain(model, x, "smoothgrad", target=1, noise=0.0, samples=2, magnitude=True)
    np.testing.assert_allclose(squared.extras["attributions"], autograd_gradient(model, x, 1) ** 2, rtol=1e-4,
                               atol=1e-10)


def test_smoothgrad_noise_changes_the_map_reproducibly(model, x):
    a = explain(model, x, "smoothgrad", samples=4, noise=0.3)
    b = explain(model, x, "smoothgrad", samples=4, noise=0.3)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.allclose(a.extras["attributions"], autograd_gradient(model, x, a.target[0]) ** 2)


def test_integrated_gradients_completeness_gauss_legendre(model, x):
    res = explain(model, x, "integrated-gradients", target=1, steps=50)
    with torch.no_grad():
        gap = (model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]).numpy()
    total = res.extras["attributions"].reshape(2, -1).sum(1)
    assert np.all(np.abs(total - gap) <= 0.01 * np.abs(gap))
    np.testing.assert_allclose(res.extras["convergence_delta"], total - gap, atol=1e-5)


def test_integrated_gradients_agree_with_captum(model, x):
    captum = pytest.importorskip("captum.attr")
    ours = explain(model, x, "integrated-gradients", target=0, steps=20, baseline="mean")
    baseline = x.mean((2, 3, 4), keepdim=True).expand_as(x)
    theirs = captum.IntegratedGradients(model.body).attribute(x, baselines=baseline, target=0, n_steps=20,
                                                              method="gausslegendre")
    np.testing.assert_allclose(ours.extras["attributions"], theirs.numpy(), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_riemann_and_blur_baseline(model, x):
    res = explain(model, x, "integrated-gradients", target=0, steps=64, rule="riemann-trapezoid", baseline="blur",
                  blur_sigma=1.0)
    baseline = res.extras["baseline"]
    assert not np.allclose(baseline, x.numpy()) and abs(baseline.mean() - x.numpy().mean()) < 0.05
    with torch.no_grad():
        gap = (model(x)[:, 0] - model(torch.as_tensor(baseline))[:, 0]).numpy()
    total = res.extras["attributions"].reshape(2, -1).sum(1)
    assert np.all(np.abs(total - gap) <= 0.02 * np.abs(gap) + 1e-6)


@pytest.mark.parametrize("method,options,message", [
    ("smoothgrad", {"noise": -0.1}, "noise"),
    ("smoothgrad", {"samples": 0}, "samples"),
    ("integrated-gradients", {"baseline": np.zeros((3, 6, 7, 5))}, "baseline"),
    ("integrated-gradients", {"baseline": "black"}, "baseline"),
    ("integrated-gradients", {"rule": "simpson"}, "rule"),
    ("saliency", {"reduce": "mean"}, "reduce"),
    ("saliency", {"noise": 0.1}, "options are"),
])
def test_bad_options_fail_before_any_model_evaluation(model, x, method, options, message):
    with pytest.raises(SaliencyError, match=message):
        explain(model, x, method, **options)
    assert model.calls == 0


def test_model_that_cannot_be_differentiated_is_refused_clearly(x):
    class Rounding(nn.Module):
        def forward(self, inp):
            with torch.no_grad():
                return torch.stack([inp.mean((1, 2, 3, 4)), -inp.mean((1, 2, 3, 4))], 1)

    for method in ("saliency", "smoothgrad", "integrated-gradients", "guided-backprop"):
        with pytest.raises(SaliencyError, match="occlusion"):
            explain(Rounding(), x, method)


def test_model_flags_and_mode_restored(model, x):
    model.train()
    model.body[0].weight.requires_grad_(False)
    explain(model, x, "integrated-gradients", steps=4)
    assert model.training and not model.body[0].weight.requires_grad and model.body[2].weight.requires_grad
