"""Where occlusion windows go: sizes and strides per axis, every voxel covered, the ROI's windows only.

Truth: window starts, counts, slices and pooled values worked out by hand on small grids, and on the
linear occlusion case an ROI must leave the map inside it exactly as without the ROI.
"""

import numpy as np
import pytest
import torch
from helpers.occlusion_models import SHAPE, WeightedSum
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.perturbation.windows import (
    WindowGrid,
    axis_starts,
    per_axis,
    roi_masks,
    selected_windows,
    strides,
    window_sizes,
)


def test_roi_changes_only_windows_outside_it(case):
    x, weights = case
    roi = np.zeros(SHAPE, bool)
    roi[2:4, 3:5, 1:3] = True
    model = WeightedSum(weights)
    full = explain(
        model, x[None, None], "occlusion", target=0, window=4, stride=2, output_activation="none", relu=False
    )
    part = explain(
        model, x[None, None], "occlusion", target=0, window=4, stride=2, output_activation="none", relu=False, roi=roi
    )
    assert part.extras["evaluations"] < full.extras["evaluations"]
    np.testing.assert_allclose(part.raw[0][roi], full.raw[0][roi], rtol=1e-5, atol=1e-6)
    covered = part.extras["covered"][0]
    assert not covered[10:].any() and np.all(part.raw[0][~covered] == 0)


def test_one_value_per_axis():
    assert per_axis("window", 4, 3) == [4, 4, 4]
    assert per_axis("window", np.int64(2), 2) == [2, 2]
    assert per_axis("window", (1, 2, 3), 3) == [1, 2, 3]
    with pytest.raises(SaliencyError, match="exactly 3"):
        per_axis("window", (4, 4), 3)
    with pytest.raises(SaliencyError, match="must be a number"):
        per_axis("window", None, 2)
    with pytest.raises(SaliencyError, match="exactly 2"):
        per_axis("window", (True, 3), 2)


def test_window_sizes_in_voxels_fractions_and_the_default():
    assert window_sizes(None, (40, 8)) == [16, 8]  # 16 voxels, clipped to the axis
    assert window_sizes(3, (10, 6)) == [3, 3]
    assert window_sizes(0.5, (10, 6)) == [5, 3]  # a float is a fraction of the axis
    assert window_sizes((1.0, 2), (10, 6)) == [10, 2]
    with pytest.raises(SaliencyError, match="fraction of the axis"):
        window_sizes(1.5, (10, 6))
    with pytest.raises(SaliencyError, match="at most 6"):
        window_sizes(7, (10, 6))
    with pytest.raises(SaliencyError, match=">= 1 voxel"):
        window_sizes(0, (10, 6))


def test_strides_given_or_from_the_overlap():
    assert strides(None, None, [16, 8]) == [12, 6]  # default overlap 0.25
    assert strides(None, 0.5, [16, 8]) == [8, 4]
    assert strides(None, 0.0, [3, 1]) == [3, 1]
    assert strides((2, 1), None, [16, 8]) == [2, 1]
    with pytest.raises(SaliencyError, match="not both"):
        strides(2, 0.5, [4, 4])
    with pytest.raises(SaliencyError, match="whole voxels"):
        strides(1.5, None, [4, 4])
    with pytest.raises(SaliencyError, match=r"\[0, 1\)"):
        strides(None, -0.1, [4, 4])


def test_the_last_window_is_flush_with_the_end():
    assert axis_starts(10, 4, 3) == [0, 3, 6]
    assert axis_starts(10, 4, 4) == [0, 4, 6]  # 0, 4, then 6 so that voxels 8-9 are covered
    assert axis_starts(5, 5, 2) == [0]


def test_window_grid_starts_slices_and_pooling_by_hand():
    grid = WindowGrid((10, 7), [4, 3], [4, 3])
    assert grid.starts == [[0, 4, 6], [0, 3, 4]] and grid.counts == [3, 3] and len(grid) == 9
    assert grid.start(5) == (4, 4)  # index 5 = row 1, column 2 (row-major)
    assert grid.slices(5) == (slice(4, 8), slice(4, 7))
    spike = torch.zeros(1, 10, 7)
    spike[0, 5, 4] = 1.0
    # voxel (5, 4) lies in rows starting at 4 only, and columns starting at 3 and 4: windows 4 and 5
    assert torch.nonzero(grid.pooled(spike, "max")[0]).flatten().tolist() == [4, 5]
    avg = grid.pooled(spike, "avg")[0]
    assert avg[4].item() == pytest.approx(1 / 12) and avg[5].item() == pytest.approx(1 / 12)
    assert avg.sum().item() == pytest.approx(2 / 12)


def test_roi_masks_and_the_windows_they_select():
    grid = WindowGrid((10, 7), [4, 3], [4, 3])
    roi = np.zeros((10, 7), bool)
    roi[5, 4] = True
    masks = roi_masks(roi, 2, (10, 7))
    assert masks.shape == (2, 10, 7) and masks.dtype == torch.bool
    assert selected_windows(grid, masks, 2) == [[4, 5], [4, 5]]
    assert selected_windows(grid, None, 1) == [list(range(9))]
    assert roi_masks(None, 2, (10, 7)) is None
    with pytest.raises(SaliencyError, match=r"roi has shape \(3, 3\)"):
        roi_masks(np.ones((3, 3)), 1, (10, 7))
    one_empty = np.stack([roi, np.zeros_like(roi)])
    with pytest.raises(SaliencyError, match="empty for at least one sample"):
        roi_masks(one_empty, 2, (10, 7))
