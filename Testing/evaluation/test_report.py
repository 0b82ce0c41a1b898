"""The combined report on the model grid: JSON-safe, localisation in model space, region shape checks."""

import json
import math

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import evaluate_explanation, json_safe
from torch import nn


class BoxMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.zero_()

    def forward(self, x):
        return self.conv(x)[:, :, 2:6, 3:7].flatten(1).mean(1, keepdim=True)


def test_report_has_every_key_and_valid_json():
    x = 0.3 * torch.rand(1, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    x[..., 2:6, 3:7] = 1.0
    truth = np.zeros((10, 10))
    truth[2:6, 3:7] = 1.0
    region = np.zeros((10, 10), dtype=bool)
    region[2:6, 3:5] = True  # half of the box: energy fraction 8 / 16
    report = evaluate_explanation(
        BoxMean(),
        x,
        truth,
        steps=20,
        random_repeats=2,
        region=region,
        explain_fn=lambda m, xx, t: np.asarray(truth)[None],
    )
    assert report["deletion_auc"] < report["random_deletion_auc"]
    assert report["energy_fraction"] == pytest.approx(0.5)
    assert report["region_fraction"] == pytest.approx(8 / 100)
    assert report["pointing_hit"] is False  # 16 tied peaks, 8 outside the region: a strict miss
    assert report["sanity"]["flagged"] is True  # the "map" came from outside the model
    json.loads(json.dumps(report, allow_nan=False))
    with pytest.raises(SaliencyError, match="shape"):
        evaluate_explanation(BoxMean(), x, truth, steps=4, sanity=False, region=np.ones((9, 9)))


def test_json_safe_turns_nan_into_null():
    assert json_safe({"a": float("nan"), "b": [np.float32(1.5), np.bool_(True)], "c": np.int64(3)}) == {
        "a": None,
        "b": [1.5, True],
        "c": 3,
    }
    assert json_safe(math.inf) is None


def test_method_options_named_like_check_options_reach_the_engine():
    # SmoothGrad has its own `seed`; the sanity check has one too: they must not collide.
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    heat = np.random.default_rng(0).random((8, 8))
    report = evaluate_explanation(
        BoxMean(), x, heat, method="smoothgrad", steps=4, random_repeats=1, explain_options={"seed": 3, "samples": 2}
    )
    assert [entry["layer"] for entry in report["sanity"]["layers"]] == ["conv"]
