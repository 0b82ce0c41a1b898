"""The user's model is left exactly as it was: training flags, requires_grad flags and .grad restored
after every call, also when the call raises; eval mode inside (no dropout, no batch-norm updates)."""

import pytest
import torch
from SaliencyExplorerLib.core.model_guard import guarded
from torch import nn


def _model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5), nn.Linear(2, 2))
    model.train()
    model[2].eval()  # a user's mix of modes must come back as it was
    model[0].weight.requires_grad_(False)
    model[3].weight.grad = torch.full_like(model[3].weight, 0.5)
    return model


def _flags(model):
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [p.grad for p in model.parameters()],
    )


def test_flags_modes_and_grads_are_restored_after_an_exception():
    model = _model()
    modes, requires, grads = _flags(model)
    with pytest.raises(RuntimeError, match="inside"):
        with guarded(model) as inside:
            assert inside is model and not any(m.training for m in model.modules())  # eval inside
            for p in model.parameters():
                p.requires_grad_(True)
                p.grad = None
            model.train()
            raise RuntimeError("inside")
    after_modes, after_requires, after_grads = _flags(model)
    assert after_modes == modes and after_requires == requires
    assert all(a is b for a, b in zip(after_grads, grads))  # the very same gradient tensors


def test_batch_norm_statistics_are_not_updated_inside():
    model = _model()
    before = model[1].running_mean.clone()
    with guarded(model), torch.no_grad():
        model[1](torch.randn(4, 2, 5, 5) + 3.0)
    assert torch.equal(model[1].running_mean, before) and model.training


def test_eval_mode_can_be_left_to_the_caller():
    model = _model()
    with guarded(model, eval_mode=False):
        assert model.training and not model[2].training
    assert model.training
