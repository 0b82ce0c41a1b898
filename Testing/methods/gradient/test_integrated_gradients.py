"""Integrated gradients: gradients along the path from a baseline to the input (completeness).

Truth: completeness (attributions sum to score(x) - score(baseline)) on the model itself, captum's
IntegratedGradients, and the quadrature rules and baselines checked against their definitions
(Gauss-Legendre with n points integrates polynomials up to degree 2n - 1 exactly).
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.gradient.integrated_gradients import gaussian_blur, make_baseline, path_rule


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
    theirs = captum.IntegratedGradients(model.body).attribute(
        x, baselines=baseline, target=0, n_steps=20, method="gausslegendre"
    )
    np.testing.assert_allclose(ours.extras["attributions"], theirs.numpy(), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_riemann_and_blur_baseline(model, x):
    res = explain(
        model, x, "integrated-gradients", target=0, steps=64, rule="riemann-trapezoid", baseline="blur", blur_sigma=1.0
    )
    baseline = res.extras["baseline"]
    assert not np.allclose(baseline, x.numpy()) and abs(baseline.mean() - x.numpy().mean()) < 0.05
    with torch.no_grad():
        gap = (model(x)[:, 0] - model(torch.as_tensor(baseline))[:, 0]).numpy()
    total = res.extras["attributions"].reshape(2, -1).sum(1)
    assert np.all(np.abs(total - gap) <= 0.02 * np.abs(gap) + 1e-6)


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_gauss_legendre_integrates_polynomials_exactly_on_the_unit_interval(steps):
    alphas, weights = path_rule("gauss-legendre", steps)
    assert len(alphas) == steps and np.all((alphas > 0) & (alphas < 1))
    for degree in range(2 * steps):  # exact up to degree 2n - 1
        assert np.sum(weights * alphas**degree) == pytest.approx(1.0 / (degree + 1), rel=1e-12)


def test_riemann_rules_are_the_textbook_points_and_weights():
    left, w = path_rule("riemann-left", 4)
    assert left.tolist() == [0.0, 0.25, 0.5, 0.75] and w.tolist() == [0.25] * 4
    assert path_rule("riemann-right", 4)[0].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert path_rule("riemann-middle", 4)[0].tolist() == [0.125, 0.375, 0.625, 0.875]
    points, weights = path_rule("riemann-trapezoid", 5)
    assert points.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert weights.tolist() == [0.125, 0.25, 0.25, 0.25, 0.125]
    with pytest.raises(SaliencyError, match="steps >= 2"):
        path_rule("riemann-trapezoid", 1)


def test_baselines_zero_mean_number_and_array():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    assert torch.equal(make_baseline("zero", x, 1.0), torch.zeros_like(x))
    mean = make_baseline("mean", x, 1.0)
    assert mean.shape == x.shape and float(mean[0].unique()) == 5.5 and float(mean[1].unique()) == 17.5
    assert torch.equal(make_baseline(-1, x, 1.0), torch.full_like(x, -1.0))
    one_sample = np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 3, 4)
    spread = make_baseline(one_sample, x, 1.0)
    assert spread.shape == x.shape and torch.equal(spread[0], spread[1])
    with pytest.raises(SaliencyError, match="Resample the baseline"):
        make_baseline(np.zeros((3, 3)), x, 1.0)
    with pytest.raises(SaliencyError, match="NaN"):
        make_baseline(np.full((1, 3, 4), np.nan), x, 1.0)


def test_blur_baseline_is_a_normalised_separable_gaussian():
    impulse = torch.zeros(1, 1, 15, 15)
    impulse[0, 0, 7, 7] = 1.0
    blurred = make_baseline("blur", impulse, 1.0)
    t = np.arange(-4, 5)  # radius ceil(4 sigma) = 4, as scipy.ndimage.gaussian_filter's default truncate=4
    kernel = np.exp(-0.5 * t**2)
    kernel /= kernel.sum()
    np.testing.assert_allclose(blurred[0, 0, 3:12, 3:12].numpy(), np.outer(kernel, kernel), rtol=1e-5, atol=1e-7)
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-6)
    flat = torch.full((1, 2, 5, 6, 7), 3.0)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)  # edges replicated: a constant stays
    assert torch.equal(gaussian_blur(impulse, 0), impulse)
