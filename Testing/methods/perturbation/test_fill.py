"""What an occluded window is filled with: a constant, the image mean, the window's mean, a Gaussian blend.

Truth: on a linear model hiding a window changes the score by sum(w * (x - fill)) over the window, so the
whole occlusion map is known by brute force for every occluder; and each fill written into a slot is
compared voxel by voxel with its definition.
"""

import math

import numpy as np
import pytest
import torch
from helpers.occlusion_models import WeightedSum, expected_map, gaussian
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.perturbation.fill import Occluder, gaussian_bump


@pytest.mark.parametrize("occluder", ["constant", "mean", "patch-mean", "gaussian"])
def test_each_occluder_gives_the_analytic_drop(case, occluder):
    x, weights = case
    window, stride = (4, 6, 3), (3, 5, 2)
    bump = gaussian(window)
    fills = {
        "constant": lambda r: (np.full_like(r, 0.5), 1.0),
        "mean": lambda r: (np.full_like(r, x.mean()), 1.0),
        "patch-mean": lambda r: (np.full_like(r, r.mean()), 1.0),
        "gaussian": lambda r: (r * (1 - bump) + 0.5 * bump, bump),
    }
    res = explain(
        WeightedSum(weights),
        x[None, None],
        "occlusion",
        target=0,
        window=window,
        stride=stride,
        occluder=occluder,
        value=0.5,
        output_activation="none",
        relu=False,
    )
    np.testing.assert_allclose(
        res.raw[0], expected_map(x, weights, window, stride, fills[occluder]), rtol=1e-4, atol=1e-4
    )


def test_gaussian_bump_peaks_at_one_in_the_centre_with_sigma_a_fraction_of_the_window():
    bump = gaussian_bump([3, 5], 0.25, "cpu", torch.float64)
    assert bump.shape == (3, 5) and float(bump[1, 2]) == 1.0 and float(bump.max()) == 1.0
    # one voxel off centre along the first axis: exp(-0.5 (1 / (0.25 * 3))^2)
    assert float(bump[0, 2]) == pytest.approx(math.exp(-0.5 * (1 / 0.75) ** 2))
    # a corner: the product of both axes' factors
    assert float(bump[0, 0]) == pytest.approx(math.exp(-0.5 * (1 / 0.75) ** 2) * math.exp(-0.5 * (2 / 1.25) ** 2))


def _sample():
    x = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).reshape(2, 2, 4, 4)  # (N, C, 4, 4)
    return x, (slice(1, 3), slice(0, 2))


@pytest.mark.parametrize("kind", ["constant", "mean", "patch-mean", "gaussian"])
def test_each_fill_writes_only_the_window_with_its_value(kind):
    x, region = _sample()
    occluder = Occluder(kind, 7.0, 0.25, x, [2, 2])
    slot = x[1].clone()
    occluder.apply(slot, 1, region)
    window = x[1][(slice(None), *region)]
    if kind == "constant":
        expected = torch.full_like(window, 7.0)
    elif kind == "mean":  # sample 1's mean per channel: channel 0 holds 32..47, channel 1 48..63
        expected = torch.stack([torch.full((2, 2), 39.5), torch.full((2, 2), 55.5)])
    elif kind == "patch-mean":  # rows 1-2, columns 0-1 of each channel
        expected = window.flatten(1).mean(1).reshape(2, 1, 1).expand_as(window)
        assert expected[0, 0, 0] == (36 + 37 + 40 + 41) / 4
    else:
        bump = gaussian_bump([2, 2], 0.25, "cpu", torch.float32)
        expected = window * (1 - bump) + 7.0 * bump
    torch.testing.assert_close(slot[(slice(None), *region)], expected)
    outside = torch.ones_like(slot, dtype=torch.bool)
    outside[(slice(None), *region)] = False
    assert torch.equal(slot[outside], x[1][outside])
    weight = occluder.weight([2, 2])
    assert (weight == 1.0) if kind != "gaussian" else torch.equal(weight, occluder.bump)


@pytest.mark.parametrize(
    "kind,value,sigma,needle",
    [
        ("noise", 0.0, 0.25, "occluder='noise'"),
        ("constant", "zero", 0.25, "value='zero'"),
        ("constant", float("nan"), 0.25, "value=nan"),
        ("constant", True, 0.25, "value=True"),
        ("gaussian", 0.0, 0.0, "gaussian_sigma=0.0"),
    ],
)
def test_bad_fills_are_refused(kind, value, sigma, needle):
    with pytest.raises(SaliencyError, match=needle):
        Occluder(kind, value, sigma, torch.zeros(1, 1, 4, 4), [2, 2])
