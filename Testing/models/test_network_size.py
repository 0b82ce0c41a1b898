"""A network is built on the meta device first: weights that do not fit in free memory are refused before
any allocation, with the size named; a constructor's own refusal is one line."""

import pytest
import torch
from SaliencyExplorerLib.core import resources
from SaliencyExplorerLib.errors import ModelLoadError, SaliencyError
from SaliencyExplorerLib.models.network_build import build_from_args
from SaliencyExplorerLib.models.network_size import tensor_bytes
from torch import nn


class Wide(nn.Module):
    def __init__(self, channels=4, check=True):
        super().__init__()
        assert channels > 0 or not check, "channels must be positive"
        self.conv = nn.Conv3d(1, channels, 3)
        self.norm = nn.BatchNorm3d(channels)


def test_a_network_that_fits_is_built_as_the_class_builds_it():
    torch.manual_seed(0)
    built = build_from_args(Wide, {"channels": 4}, "kwargs", "fix")
    torch.manual_seed(0)
    direct = Wide(4)
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), direct.state_dict().values()))
    # conv 4*1*27 + 4 weights, norm 4 + 4 affine, 4 + 4 running stats (float32) and one int64 counter
    assert tensor_bytes(direct) == 4 * (4 * 27 + 4 + 8 + 8) + 8


def test_weights_beyond_free_memory_are_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2**30)  # 1 GiB free
    with pytest.raises(SaliencyError, match=r"needs about .* GiB of memory but only 1.0 GiB is free") as caught:
        build_from_args(Wide, {"channels": 10_000_000}, "architecture.kwargs", "Fix the card.")
    assert "\n" not in str(caught.value)


def test_absurd_numbers_and_the_constructor_refusal_are_one_line():
    with pytest.raises(ModelLoadError, match=r"channels is 1099511627776: no network argument is that large"):
        build_from_args(Wide, {"channels": 2**40}, "kwargs", "fix")
    with pytest.raises(ModelLoadError, match=r"Wide refuses these arguments \(AssertionError: channels must be"):
        build_from_args(Wide, {"channels": -1}, "kwargs", "Fix it.")
    with pytest.raises(TypeError):  # wrong keywords: the caller names its field
        build_from_args(Wide, {"colour": 1}, "kwargs", "fix")
