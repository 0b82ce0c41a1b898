"""Bad input: each problem is a SaliencyError whose message names the problem (and the fix), raised
before anything is changed; the caller's input tensor is never modified."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.engine_models import RaisingModel, SmallCNN, hooks_left, model_snapshot
from SaliencyExplorerLib import SaliencyError, explain, list_layers
from torch import nn


class GlobalPoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


CASES = [
    # label, model factory, input, kwargs, words the message must contain
    ("2-D input", SmallCNN, torch.randn(12, 12), {}, ["(12, 12)", "(N, C, *spatial)", "x[None, None]"]),
    ("6-D input", SmallCNN, torch.randn(1, 1, 2, 3, 4, 5), {}, ["6 dims", "1, 2 or 3 spatial dims"]),
    ("not a tensor", SmallCNN, [[1.0, 2.0]], {}, ["list"]),
    ("NaN input", SmallCNN, torch.full((1, 1, 8, 8), float("nan")), {}, ["NaN"]),
    ("infinite input", SmallCNN, torch.full((1, 1, 8, 8), float("inf")), {}, ["infinite"]),
    (
        "layer without spatial output (linear)",
        SmallCNN,
        torch.randn(1, 1, 8, 8),
        {"layers": "fc"},
        ["(1, 3)", "spatial output", "list_layers"],
    ),
    (
        "layer without spatial output (global pool)",
        GlobalPoolNet,
        torch.randn(1, 1, 8, 8),
        {"layers": "pool"},
        ["(1, 3, 1, 1)", "earlier layer"],
    ),
    ("target out of range", SmallCNN, torch.randn(1, 1, 8, 8), {"target": 3}, ["out of range", "0..2"]),
    ("negative target", SmallCNN, torch.randn(1, 1, 8, 8), {"target": -1}, ["out of range"]),
    ("wrong number of targets", SmallCNN, torch.randn(2, 1, 8, 8), {"target": [0, 1, 2]}, ["3 targets", "batch of 2"]),
    ("target of the wrong type", SmallCNN, torch.randn(1, 1, 8, 8), {"target": "cat"}, ["target must be"]),
    (
        "model raises",
        RaisingModel,
        torch.randn(1, 1, 8, 8),
        {"layers": "features"},
        ["RuntimeError", "deliberate failure"],
    ),
    ("wrong channel count", SmallCNN, torch.randn(1, 3, 8, 8), {}, ["raised RuntimeError", "channels"]),
    ("unknown method", SmallCNN, torch.randn(1, 1, 8, 8), {"method": "gradcan"}, ["gradcan", "gradcam"]),
    ("unknown layer", SmallCNN, torch.randn(1, 1, 8, 8), {"layers": "feature.4"}, ["feature.4", "features.4"]),
    (
        "segmentation mask of the wrong shape",
        SmallCNN,
        torch.randn(1, 1, 8, 8),
        {"task": "segmentation", "mask": torch.ones(4, 4)},
        ["segmentation"],
    ),
]


@pytest.mark.parametrize("label,factory,x,kwargs,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error_and_changes_nothing(label, factory, x, kwargs, words):
    model = factory()
    before = model_snapshot(model)
    original = x.clone() if isinstance(x, torch.Tensor) else None
    kwargs = dict(kwargs)
    method = kwargs.pop("method", "gradcam")
    with pytest.raises(SaliencyError) as info:
        explain(model, x, method, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, (label, message)
    assert hooks_left(model) == [] and model_snapshot(model) == before
    if original is not None:
        assert torch.equal(original, x) or (original.isnan().all() and x.isnan().all())


def test_model_output_the_target_cannot_read_names_output_key():
    class TwoHeads(SmallCNN):
        def forward(self, x):
            logits = super().forward(x)
            return {"logits": logits, "aux": logits}

    with pytest.raises(SaliencyError, match="output_key"):
        explain(TwoHeads(), torch.randn(1, 1, 8, 8), "gradcam", layers="features")
    with pytest.raises(SaliencyError, match="no element 'scores'"):
        explain(TwoHeads(), torch.randn(1, 1, 8, 8), "gradcam", layers="features", output_key="scores")


def test_list_layers_refuses_a_bad_example_input():
    with pytest.raises(SaliencyError, match="spatial dims"):
        list_layers(SmallCNN(), torch.randn(8, 8))


def test_the_callers_input_is_never_modified():
    model = SmallCNN().eval()
    x = torch.randn(2, 1, 10, 10)
    copy = x.clone()
    for method in ("gradcam", "scorecam", "ablationcam"):
        explain(model, x, method, layers="features", aug_smooth=True)
    assert torch.equal(x, copy) and not x.requires_grad
    array = np.random.default_rng(0).normal(size=(1, 1, 10, 10)).astype(np.float32)
    kept = array.copy()
    res = explain(model, array, "gradcam", layers="features")
    assert np.array_equal(array, kept) and res.heatmap.shape == (1, 10, 10)


def test_list_layers_reports_a_model_that_refuses_the_input():
    model = SmallCNN()
    with pytest.raises(SaliencyError, match="raised RuntimeError"):
        list_layers(model, torch.randn(1, 3, 8, 8))
    assert hooks_left(model) == []


def test_cam_classifier_that_does_not_fit_the_layer_names_both_sizes():
    class TwoLinears(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc2(self.fc1(self.conv(x).mean((2, 3))))

    model = TwoLinears()
    with pytest.raises(SaliencyError, match="takes 3 inputs but the target layer has 4 channels"):
        explain(model, torch.randn(1, 1, 8, 8), "cam", layers="conv", fc_layer="fc2")
    assert hooks_left(model) == []
