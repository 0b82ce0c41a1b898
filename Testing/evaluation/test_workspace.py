"""The sanity check's workspace: a model whose weights may be destroyed while the caller's model stays
exactly as it was: a deep copy when the model can be copied, else in place and restored bit for bit.

Truth: the caller's parameters and buffers compared byte for byte before and after; forward order of the
layers recorded by hand.
"""

import copy

import pytest
import torch
from SaliencyExplorerLib.evaluation.workspace import Workspace, layers_with_parameters, parameter_root
from SaliencyExplorerLib.models.torchscript import TorchScriptTapModel
from torch import nn


def _state(model):
    return {k: v.detach().clone() for k, v in list(model.named_parameters()) + list(model.named_buffers())}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Uncopyable(nn.Module):
    """Like a hookable TorchScript model: refuses to be deep-copied."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(1, 2, 3)
        self.norm = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.norm(self.conv(x)).mean((2, 3))

    def __deepcopy__(self, memo):
        raise RuntimeError("cannot copy compiled code")


def test_a_copyable_model_is_worked_on_in_copies():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    before = _state(model)
    space = Workspace(model)
    assert not space.in_place
    first, second = space.fresh(), space.fresh()
    assert first is not model and second is not model and first is not second
    with torch.no_grad():
        space.layer(first, "2").weight.normal_()
    assert space.layer(first, "2") is first[2]
    assert _same(_state(second), before)  # a fresh copy starts from the original weights
    space.close()
    assert _same(_state(model), before)


def test_an_uncopyable_model_is_randomised_in_place_and_restored_bit_for_bit():
    model = Uncopyable()
    with torch.no_grad():
        model.norm.running_mean.uniform_()
    before = _state(model)
    space = Workspace(model)
    assert space.in_place
    work = space.fresh()
    assert work is model
    with torch.no_grad():
        space.layer(work, "conv").weight.normal_()
        work.norm.running_mean.zero_()
    assert not _same(_state(model), before)
    again = space.fresh()  # each fresh() starts from the original again
    assert again is model and _same(_state(model), before)
    with torch.no_grad():
        model.conv.bias.fill_(7.0)
    space.close()
    assert _same(_state(model), before)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used
def test_the_weights_of_a_hookable_torchscript_model_live_in_its_script():
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    wrapped = TorchScriptTapModel(torch.jit.script(plain), ["0"])
    assert parameter_root(plain) is plain
    assert parameter_root(wrapped) is wrapped.script
    with pytest.raises(Exception):
        copy.deepcopy(wrapped)  # why the in-place route exists
    assert Workspace(wrapped).in_place


def test_layers_are_listed_in_the_order_the_forward_runs_them():
    class Reordered(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)  # registered first, runs second
            self.b = nn.Linear(4, 4)
            self.unused = nn.Linear(4, 4)
            self.act = nn.ReLU()  # no parameters: not listed

        def forward(self, x):
            return self.a(self.act(self.b(x)))

    model = Reordered()
    assert layers_with_parameters(model, torch.zeros(1, 4)) == ["b", "a", "unused"]
    assert not any(m._forward_hooks for m in model.modules())  # probed on a copy: no hook left
