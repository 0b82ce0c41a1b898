"""Fast occlusion: one gradient pass ranks the windows, the `refine` fraction is occluded for real and the
rest get their first-order estimate, scaled by a least-squares fit shrunk by its R^2.

Truth: on a linear model the first-order estimate is exact, so fast mode must equal exhaustive occlusion
at any `refine`; the shrunk fit is checked against values worked out by hand.
"""

import numpy as np
import pytest
import torch
from helpers.occlusion_models import SHAPE, WeightedSum, starts
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.methods.perturbation.occlusion_fast import shrunk_factor
from torch import nn


def test_fast_mode_with_every_window_refined_is_exhaustive(case):
    x, weights = case
    kwargs = dict(target=0, window=(4, 6, 3), stride=(3, 5, 2), output_activation="none", relu=False)
    exhaustive = explain(WeightedSum(weights), x[None, None], "occlusion", **kwargs)
    fast = explain(WeightedSum(weights), x[None, None], "occlusion", mode="fast", refine=1.0, **kwargs)
    np.testing.assert_allclose(fast.raw, exhaustive.raw, rtol=1e-5, atol=1e-6)
    linear = explain(WeightedSum(weights), x[None, None], "occlusion", mode="fast", refine=0.2, **kwargs)
    np.testing.assert_allclose(linear.raw, exhaustive.raw, rtol=1e-4, atol=1e-4)  # a linear model: exact estimate
    windows = [len(starts(s, w, t)) for s, w, t in zip(SHAPE, (4, 6, 3), (3, 5, 2))]
    assert list(linear.extras["windows"]) == windows
    assert linear.extras["evaluations"] == 1 + int(np.ceil(0.2 * np.prod(windows)))  # known before it starts


def test_shrunk_factor_by_hand():
    t = torch.tensor
    assert shrunk_factor(t([1.0, 2.0, -1.0]), t([2.0, 4.0, -2.0])) == pytest.approx(2.0)  # exact fit, R^2 = 1
    # fit: factor = (1 + 3) / 2 = 2; residual (-1, 1): R^2 = 1 - 2 / 10 = 0.8; shrunk 2 * 0.8
    assert shrunk_factor(t([1.0, 1.0]), t([1.0, 3.0])) == pytest.approx(1.6)
    assert shrunk_factor(t([1.0, 0.0]), t([0.0, 1.0])) == 0.0  # estimates explain nothing
    assert shrunk_factor(t([0.0, 0.0]), t([1.0, 2.0])) == 0.0
    assert shrunk_factor(t([1.0, 2.0]), t([0.0, 0.0])) == 0.0


def test_a_model_without_gradients_is_ranked_by_the_input_change_and_says_so():
    class Frozen(nn.Module):
        def forward(self, x):
            with torch.no_grad():
                s = x[:, 0, :4].flatten(1).sum(1)
            return torch.stack([s, -s], 1)

    x = torch.zeros(1, 1, *SHAPE)
    x[0, 0, :4] = 1.0  # only the first rows change when occluded with 0
    res = explain(
        Frozen(),
        x,
        "occlusion",
        target=0,
        window=4,
        stride=4,
        mode="fast",
        refine=0.25,
        output_activation="none",
        relu=False,
    )
    assert any("not differentiable" in w for w in res.warnings)
    windows = [len(starts(s, 4, 4)) for s in SHAPE]  # 3 x 4 x 2 = 24
    assert res.extras["refined_windows"] == 6 and res.extras["estimated_windows"] == 18
    assert np.prod(windows) == 24
    # 6 of the 8 windows over rows 0-3 (the only ones whose occlusion changes the input) are evaluated:
    # hiding one drops the score by its 4 x 4 x 4 ones = 64; every other window is estimated as 0
    raw = res.raw[0]
    assert np.isclose(raw, 64.0).sum() == 6 * 64 and np.isclose(raw, 0.0).sum() == raw.size - 6 * 64
    assert np.all(raw[4:] == 0)


def test_the_gradient_pass_goes_one_occlusion_batch_at_a_time(case):
    """Three samples, batches of one: three gradient passes of one sample, the same map as one pass of three
    (the first-order estimate of a linear model is exact, so both equal exhaustive occlusion)."""
    x, weights = case
    xs = np.stack([x, 2 * x, -x])[:, None]
    kwargs = dict(
        target=0, window=(4, 6, 3), stride=(3, 5, 2), output_activation="none", relu=False, mode="fast", refine=0.2
    )
    model = WeightedSum(weights)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append((int(i[0].shape[0]), torch.is_grad_enabled())))
    one = explain(model, xs, "occlusion", batch_size=1, **kwargs)
    assert [rows for rows, grad in seen if grad] == [1, 1, 1]
    seen.clear()
    three = explain(model, xs, "occlusion", batch_size=3, **kwargs)
    assert [rows for rows, grad in seen if grad] == [3]
    assert one.passes["backward"] == three.passes["backward"] == 3
    np.testing.assert_allclose(one.raw, three.raw, rtol=1e-5, atol=1e-6)
