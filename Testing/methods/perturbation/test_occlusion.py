"""Occlusion against known answers: a planted blob, captum's Occlusion, analytic drops for every occluder."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from SaliencyExplorerLib import SaliencyError, explain

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


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    return rng.normal(size=SHAPE).astype(np.float32), rng.normal(size=SHAPE).astype(np.float32)


def gaussian(window, sigma=0.25):
    bump = 1.0
    for axis, size in enumerate(window):
        t = np.arange(size) - (size - 1) / 2
        shape = [1] * len(window)
        shape[axis] = size
        bump = bump * np.exp(-0.5 * (t / (sigma * size)) ** 2).reshape(shape)
    return bump


@pytest.mark.parametrize("occluder", ["constant", "mean", "patch-mean", "gaussian"])
def test_each_occluder_gives_the_analytic_drop(case, occluder):
    x, weights = case
    window, stride = (4, 6, 3), (3, 5, 2)
    bump = gaussian(window)
    fills = {"constant": lambda r: (np.full_like(r, 0.5), 1.0),
             "mean": lambda r: (np.full_like(r, x.mean()), 1.0),
             "patch-mean": lambda r: (np.full_like(r, r.mean()), 1.0),
             "gaussian": lambda r: (r * (1 - bump) + 0.5 * bump, bump)}
    res = explain(WeightedSum(weights), x[None, None], "occlusion", target=0, window=window, stride=stride,
                  occluder=occluder, value=0.5, output_activation="none", relu=False)
    np.testing.assert_allclose(res.raw[0], expected_map(x, weights, window, stride, fills[occluder]),
                               rtol=1e-4, atol=1e-4)


def test_planted_blob_is_found_in_non_cubic_3d():
    x = np.zeros(SHAPE, np.float32)
    x[7:10, 2:5, 4:7] = 1.0  # the blob
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 1, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool3d(1), nn.Flatten(),
                          nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.fill_(0.0)
        model[4].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[4].bias.zero_()
    for mode in ("exhaustive", "fast"):
        res = explain(model, x[None, None], "occlusion", window=3, stride=1, mode=mode)
        peak = np.unravel_index(res.heatmap[0].argmax(), SHAPE)
        assert 7 <= peak[0] < 10 and 2 <= peak[1] < 5 and 4 <= peak[2] < 7, (mode, peak)
        assert res.heatmap[0][:, 9:, :].max() == 0  # far from the blob, hiding changes nothing


def test_agrees_with_captum_occlusion():
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv3d(4, 4, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveMaxPool3d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(2, 1, *SHAPE)
    ours = explain(model, x, "occlusion", target=[1, 2], window=(4, 4, 4), stride=(2, 4, 2),
                   output_activation="none", relu=False)
    theirs = captum.Occlusion(model).attribute(x, sliding_window_shapes=(1, 4, 4, 4), strides=(1, 2, 4, 2),
                                               baselines=0, target=[1, 2])
    np.testing.assert_allclose(ours.raw, theirs[:, 0].detach().numpy(), rtol=1e-4, atol=1e-6)
    assert ours.extras["evaluations"] == 2 * 5 * 4 * 3
    np.testing.assert_allclose(ours.extras["per_class"][1, 2], ours.raw[1], atol=1e-6)  # every class at once


def test_activation_is_chosen_from_output_classes(case):
    x, weights = case
    x3 = np.repeat(x[None], 3, 0)[None]  # three INPUT channels, one output class: sigmoid, not softmax

    class One(nn.Module):
        def forward(self, inp):
            return (inp[:, :1] * torch.as_tensor(weights)).flatten(1).sum(1, keepdim=True) * 0.01

    res = explain(One(), x3, "occlusion", window=(12, 16, 8), relu=False)
    score = 0.01 * (weights * x).sum()
    assert res.raw[0, 0, 0, 0] == pytest.approx(1 / (1 + np.exp(-score)) - 0.5, rel=1e-4)


def test_roi_changes_only_windows_outside_it(case):
    x, weights = case
    roi = np.zeros(SHAPE, bool)
    roi[2:4, 3:5, 1:3] = True
    model = WeightedSum(weights)
    full = explain(model, x[None, None], "occlusion", target=0, window=4, stride=2, output_activation="none",
                   relu=False)
    part = explain(model, x[None, None], "occlusion", target=0, window=4, stride=2, output_activation="none",
                   relu=False, roi=roi)
    assert part.extras["evaluations"] < full.extras["evaluations"]
    np.testing.assert_allclose(part.raw[0][roi], full.raw[0][roi], rtol=1e-5, atol=1e-6)
    covered = part.extras["covered"][0]
    assert not covered[10:].any() and np.all(part.raw[0][~covered] == 0)


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


@pytest.mark.parametrize("options,message", [
    ({"window": 20}, "larger than the input"),
    ({"window": (4, 4, 9)}, "larger than the input"),
    ({"window": (4, 4)}, "one per spatial axis"),
    ({"stride": 0}, "stride"),
    ({"stride": 2, "overlap": 0.5}, "not both"),
    ({"overlap": 1.0}, "overlap"),
    ({"occluder": "noise"}, "occluder"),
    ({"mode": "turbo"}, "mode"),
    ({"roi": np.ones((4, 4, 4), bool)}, "roi"),
    ({"roi": np.zeros(SHAPE, bool)}, "empty"),
    ({"mode": "fast", "refine": 0}, "refine"),
])
def test_bad_options_fail_before_any_model_evaluation(case, options, message):
    x, weights = case
    model = WeightedSum(weights)
    with pytest.raises(SaliencyError, match=message):
        explain(model, x[None, None], "occlusion", **options)
    assert model.calls == 0


def test_memory_layouts_give_the_same_map_and_leave_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 4, 3, padding=1),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    x = torch.randn(1, 1, *SHAPE)
    maps = {layout: explain(model, x, "occlusion", window=3, stride=2, batch_size=2, layout=layout, relu=False).raw
            for layout in ("contiguous", "channels-last", "auto")}
    np.testing.assert_allclose(maps["channels-last"], maps["contiguous"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(maps["auto"], maps["contiguous"], rtol=1e-4, atol=1e-6)
    assert model[2].weight.is_contiguous()  # the user's weights were never converted
    with pytest.raises(SaliencyError, match="layout"):
        explain(model, x, "occlusion", layout="nhwc")
