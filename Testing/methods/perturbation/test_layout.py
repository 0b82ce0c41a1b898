"""The memory layout of many-pass methods: both layouts give the same map, the faster one is chosen after
timed trial batches, and the user's model is never converted (a private channels-last copy is used).
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers.occlusion_models import SHAPE
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.perturbation import layout as layout_module
from SaliencyExplorerLib.methods.perturbation.layout import MIN_BATCHES_TO_TUNE, LayoutChooser, check_layout
from torch import nn


def test_memory_layouts_give_the_same_map_and_leave_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(4, 4, 3, padding=1),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    ).eval()
    x = torch.randn(1, 1, *SHAPE)
    maps = {
        layout: explain(model, x, "occlusion", window=3, stride=2, batch_size=2, layout=layout, relu=False).raw
        for layout in ("contiguous", "channels-last", "auto")
    }
    np.testing.assert_allclose(maps["channels-last"], maps["contiguous"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(maps["auto"], maps["contiguous"], rtol=1e-4, atol=1e-6)
    assert model[2].weight.is_contiguous()  # the user's weights were never converted
    with pytest.raises(SaliencyError, match="layout"):
        explain(model, x, "occlusion", layout="nhwc")


def _run(dims=3):
    """The two attributes of an ExplainRun the chooser uses: the input and the model."""
    model = nn.Conv3d(1, 2, 1) if dims == 3 else nn.Conv2d(1, 2, 1)
    return SimpleNamespace(x=torch.zeros((1, 1) + (4,) * dims), model=model)


def test_the_layout_is_fixed_where_there_is_nothing_to_choose(monkeypatch):
    assert LayoutChooser(_run(2), "channels-last", 50).layout == "contiguous"  # no 3D channels-last in 2D
    assert LayoutChooser(_run(2), "auto", 50).layout == "contiguous"
    assert LayoutChooser(_run(3), "auto", MIN_BATCHES_TO_TUNE - 1).layout == "contiguous"  # too few to time
    assert LayoutChooser(_run(3), "auto", MIN_BATCHES_TO_TUNE).layout == "auto"
    big = SimpleNamespace(x=torch.zeros((1, 1, 4, 4, 4)), model=nn.Conv3d(64, 128, 3))  # 221184 floats
    assert LayoutChooser(big, "auto", 50).layout == "auto"
    monkeypatch.setattr(layout_module, "MAX_COPY_BYTES", 221184 * 4 - 1)  # a copy larger than allowed: not tried
    assert LayoutChooser(big, "auto", 50).layout == "contiguous"
    assert LayoutChooser(big, "channels-last", 50).layout == "channels-last"  # asked for: copied all the same
    assert check_layout("channels-last") == "channels-last"
    with pytest.raises(SaliencyError, match="layout='nhwc' is unknown"):
        check_layout("nhwc")


def test_auto_times_two_batches_each_way_then_keeps_the_faster_and_restores_the_model():
    run = _run(3)
    model = run.model
    chooser = LayoutChooser(run, "auto", 10)
    seen = []
    for _ in range(6):
        with chooser.use(torch.zeros(2, 3, 4, 4, 4)) as ready:  # 3 channels: the two layouts differ
            last = ready.is_contiguous(memory_format=torch.channels_last_3d) and not ready.is_contiguous()
            seen.append(("channels-last" if run.model is not model else "contiguous", last))
        assert run.model is model  # swapped only inside the block
    trial = [("contiguous", False), ("contiguous", False), ("channels-last", True), ("channels-last", True)]
    assert seen[:4] == trial
    assert set(chooser.timings) == {"contiguous", "channels-last"}
    best = min(chooser.timings, key=chooser.timings.get)
    assert chooser.layout == best and {s[0] for s in seen[4:]} == {best}
    assert model.weight.is_contiguous()  # the user's weights were never converted
