"""RISE: the target's score under many random smooth masks, averaged per voxel (scaled by 1 / keep).

Truth: a model that only reads one corner must get a higher map there; the masks themselves are checked
against their definition (values in [0, 1], the kept fraction, reproducible from the seed).
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.perturbation.rise import random_masks
from torch import nn


def test_rise_finds_the_region_that_drives_the_score():
    class Corner(nn.Module):
        def forward(self, x):
            s = x[:, 0, :4, :4].flatten(1).mean(1) * 4
            return torch.stack([s, -s], 1)

    res = explain(Corner(), torch.ones(1, 1, 16, 16), "rise", masks=400, cells=4, output_activation="none", relu=False)
    inside, outside = res.raw[0, :4, :4].mean(), res.raw[0, 8:, 8:].mean()
    assert inside > outside + 1.0  # masks that keep the corner score higher
    np.testing.assert_allclose(res.extras["per_class"][0, 0], res.raw[0], rtol=1e-5, atol=1e-6)


def test_masks_are_smooth_values_in_unit_range_keeping_the_asked_fraction_reproducibly():
    def draw(seed):
        return random_masks(300, (12, 20), [3, 4], 0.3, torch.Generator().manual_seed(seed), "cpu")

    masks = draw(7)
    assert masks.shape == (300, 1, 12, 20)
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
    assert 0.0 < float(((masks > 0) & (masks < 1)).float().mean())  # interpolated, not binary
    assert float(masks.mean()) == pytest.approx(0.3, abs=0.03)  # each coarse cell kept with p = 0.3
    assert torch.equal(draw(7), masks) and not torch.equal(draw(8), masks)


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"masks": 0}, "masks must be an integer >= 1"),
        ({"cells": 9}, "at most one cell per voxel"),
        ({"cells": (2, 2, 2)}, "exactly 2"),
        ({"keep": 1.0}, "keep=1.0 must be in"),
        ({"layout": "fastest"}, "layout='fastest'"),
    ],
)
def test_bad_options_are_refused(options, needle):
    class Mean(nn.Module):
        def forward(self, x):
            return torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1)

    with pytest.raises(SaliencyError, match=needle):
        explain(Mean(), torch.ones(1, 1, 8, 8), "rise", **options)
