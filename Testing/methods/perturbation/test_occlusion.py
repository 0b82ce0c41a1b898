"""Occlusion against known answers: a planted blob, captum's Occlusion, the output activation, and bad
options refused before the model runs once.

Analytic drops for every occluder: ``test_fill.py``; the ROI: ``test_windows.py``; fast mode:
``test_occlusion_fast.py``; memory layouts: ``test_layout.py``. The ``case`` fixture is in ``conftest.py``.
"""

import numpy as np
import pytest
import torch
from helpers.occlusion_models import SHAPE, WeightedSum
from SaliencyExplorerLib import SaliencyError, explain
from torch import nn


def test_planted_blob_is_found_in_non_cubic_3d():
    x = np.zeros(SHAPE, np.float32)
    x[7:10, 2:5, 4:7] = 1.0  # the blob
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 1, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool3d(1), nn.Flatten(), nn.Linear(1, 2)
    )
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
    model = nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv3d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()
    x = torch.randn(2, 1, *SHAPE)
    ours = explain(
        model, x, "occlusion", target=[1, 2], window=(4, 4, 4), stride=(2, 4, 2), output_activation="none", relu=False
    )
    theirs = captum.Occlusion(model).attribute(
        x, sliding_window_shapes=(1, 4, 4, 4), strides=(1, 2, 4, 2), baselines=0, target=[1, 2]
    )
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


@pytest.mark.parametrize(
    "options,message",
    [
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
    ],
)
def test_bad_options_fail_before_any_model_evaluation(case, options, message):
    x, weights = case
    model = WeightedSum(weights)
    with pytest.raises(SaliencyError, match=message):
        explain(model, x[None, None], "occlusion", **options)
    assert model.calls == 0
