"""Occlusion at real sizes: window pooling costs one value per window (not voxels x window volume), the
default window keeps a default run to at most 1,000 windows, and the plan is known before the first
evaluation (extras["plan"], a status line)."""

import pytest
import torch
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.methods.perturbation.windows import MAX_DEFAULT_WINDOWS, WindowGrid, strides, window_sizes
from torch import nn


@pytest.mark.parametrize(
    "shape, window, stride",
    [
        ((20, 17, 13), [5, 4, 3], [3, 2, 3]),
        ((31, 24, 18), [9, 7, 6], [6, 5, 6]),
        ((30, 40), [7, 9], [5, 9]),
        ((50,), [11], [4]),
    ],
)
@pytest.mark.parametrize("how", ["avg", "max"])
def test_pooling_equals_the_stride_one_pooling_at_the_window_positions(shape, window, stride, how):
    grid = WindowGrid(shape, window, stride)
    maps = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0)) * 3 + 1
    ours = grid.pooled(maps, how)
    reference = grid.reference_pooled(maps, how)
    assert ours.shape == (2, len(grid))
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_pooling_computes_one_value_per_window_not_per_voxel():
    shape = (64, 64, 64)
    grid = WindowGrid(shape, [24] * 3, [18] * 3)
    grid.pooled(torch.rand(1, *shape), "avg")
    assert grid.pooled_positions == len(grid) == 4**3
    # the stride-1 pooling it replaces produced (64 - 24 + 1)^3 = 68,921 positions for these 64 windows
    grid.pooled(torch.rand(1, *shape) > 0.5, "max")
    assert grid.pooled_positions == len(grid)


@pytest.mark.parametrize("shape, expected", [((64,) * 3, [16] * 3), ((96,) * 3, [16] * 3)])
def test_small_volumes_keep_the_16_voxel_default_window(shape, expected):
    assert window_sizes(None, shape) == expected


@pytest.mark.parametrize("shape", [(128,) * 3, (256,) * 3, (512, 512, 200), (1024, 1024)])
def test_the_default_plan_stays_under_the_window_budget(shape):
    window = window_sizes(None, shape)
    grid = WindowGrid(shape, window, strides(None, None, window))
    assert len(grid) <= MAX_DEFAULT_WINDOWS <= 1000
    assert len(grid) >= 0.5 * MAX_DEFAULT_WINDOWS  # not needlessly coarse either
    if shape == (256,) * 3:  # formerly 21^3 = 9,261 windows of 16^3
        assert len(grid) == 1000 and window == [34, 34, 34]


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean((2, 3, 4))


class Recorder:
    def __init__(self):
        self.lines, self.calls = [], []

    def __call__(self, done, total):
        self.calls.append((done, total))

    def status(self, text):
        self.lines.append((len(self.calls), text))


@pytest.mark.parametrize("mode", ["exhaustive", "fast"])
def test_the_plan_is_in_extras_and_said_before_the_first_evaluation(mode):
    torch.manual_seed(0)
    progress = Recorder()
    result = explain(
        Tiny(),
        torch.randn(1, 1, 24, 24, 24),
        "occlusion",
        target=1,
        mode=mode,
        window=8,
        stride=8,
        batch_size=4,
        progress=progress,
    )
    plan = result.extras["plan"]
    assert plan["windows"] == 27 and plan["window"] == [8, 8, 8] and not plan["default_window"]
    assert plan["evaluations"] == result.extras["evaluations"]
    assert plan["batch_size"] == 4 and plan["batches"] == -(-plan["evaluations"] // 4)
    assert plan["estimated_seconds"] is not None and plan["estimated_seconds"] >= 0
    first, last = progress.lines[0], progress.lines[-1]
    assert "27 windows of 8x8x8" in first[1] and first[0] <= 1  # before any batch finished
    assert "about" in last[1] and "evaluations" in last[1]


def test_default_window_is_flagged_in_the_plan():
    result = explain(Tiny(), torch.randn(1, 1, 20, 20, 20), "occlusion", target=0, batch_size=8)
    assert result.extras["plan"]["default_window"] and result.extras["plan"]["window"] == [16, 16, 16]
