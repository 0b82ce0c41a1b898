"""GradientMethod, shared by every input-gradient method: options checked before any model evaluation,
a clear refusal of models that cannot be differentiated, the model's flags restored, channel reductions.

Per-method truth (autograd, completeness, captum): ``test_saliency.py``, ``test_smoothgrad.py``,
``test_integrated_gradients.py``, ``test_guided_backprop.py``. The model and input fixtures are in
``conftest.py``.
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.gradient.base import broadcast, check_reduce, input_only_gradients, reduce_channels
from torch import nn


@pytest.mark.parametrize(
    "method,options,message",
    [
        ("smoothgrad", {"noise": -0.1}, "noise"),
        ("smoothgrad", {"samples": 0}, "samples"),
        ("integrated-gradients", {"baseline": np.zeros((3, 6, 7, 5))}, "baseline"),
        ("integrated-gradients", {"baseline": "black"}, "baseline"),
        ("integrated-gradients", {"rule": "simpson"}, "rule"),
        ("saliency", {"reduce": "mean"}, "reduce"),
        ("saliency", {"noise": 0.1}, "options are"),
    ],
)
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


def test_channel_reductions_by_hand():
    # one voxel, three channels: (3, -4, 0)
    attributions = torch.tensor([3.0, -4.0, 0.0]).reshape(1, 3, 1)
    assert reduce_channels(attributions, "sum").item() == -1.0  # keeps the sign
    assert reduce_channels(attributions, "abs").item() == 7.0
    assert reduce_channels(attributions, "max-abs").item() == 4.0
    assert reduce_channels(attributions, "l2").item() == 5.0
    assert reduce_channels(torch.ones(2, 3, 4, 5), "sum").shape == (2, 4, 5)
    with pytest.raises(SaliencyError, match="reduce='mean'.*sum, abs, max-abs, l2"):
        check_reduce("mean")


def test_parameters_are_frozen_during_the_pass_and_restored_even_on_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[1].weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="inside"):
        with input_only_gradients(model):
            assert not any(p.requires_grad for p in model.parameters())
            raise RuntimeError("inside")
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, True]


def test_broadcast():
    batch = torch.ones(3, 2, 4, 5)
    scaled = broadcast(torch.tensor([1.0, 2.0, 3.0]), batch) * batch
    assert scaled.shape == batch.shape and scaled[:, 1, 2, 3].tolist() == [1.0, 2.0, 3.0]
