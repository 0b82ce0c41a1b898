"""Scoring occluded windows: score drops accumulated per voxel (and per class) as weighted means, read
batch by batch from one reused buffer.

Truth: drops worked out by hand on a 1-D row, and on a linear model the drop of hiding a window is
sum(w * x) over the window.
"""

import torch
from helpers.occlusion_models import WeightedSum
from SaliencyExplorerLib.core.run import ExplainRun
from SaliencyExplorerLib.methods.perturbation.fill import Occluder
from SaliencyExplorerLib.methods.perturbation.scoring import DropSums, WindowScorer
from SaliencyExplorerLib.methods.perturbation.windows import WindowGrid


def test_drop_sums_are_weighted_means_per_voxel_and_class():
    sums = DropSums(torch.zeros(1, 1, 6), classes=2)
    sums.add(0, (slice(0, 3),), 2.0, 1.0, torch.tensor([2.0, -1.0]))
    sums.add(0, (slice(2, 5),), 4.0, 1.0, torch.tensor([4.0, 0.0]))
    drop, per_class, covered = sums.mean()
    assert drop[0].tolist() == [2.0, 2.0, 3.0, 4.0, 4.0, 0.0]  # voxel 2 lies in both windows: the mean
    assert covered[0].tolist() == [True] * 5 + [False]
    assert per_class[0, 0].tolist() == drop[0].tolist()
    assert per_class[0, 1].tolist() == [-1.0, -1.0, -0.5, 0.0, 0.0, 0.0]


def test_weights_make_a_weighted_mean():
    sums = DropSums(torch.zeros(1, 1, 2), classes=None)
    sums.add(0, (slice(0, 2),), 1.0, torch.tensor([1.0, 3.0]))
    sums.add(0, (slice(0, 2),), 5.0, torch.tensor([1.0, 1.0]))
    drop, per_class, _ = sums.mean()
    # voxel 0: (1 * 1 + 5 * 1) / 2 = 3; voxel 1: (1 * 3 + 5 * 1) / 4 = 2
    assert drop[0].tolist() == [3.0, 2.0] and per_class is None


def test_each_window_drop_is_read_in_item_order_across_batches():
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape(1, 6)
    x = torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 3.0]).reshape(1, 1, 6)
    run = ExplainRun(WeightedSum(weights), x, target=0, output_activation="none")
    run.ensure_target()
    grid = WindowGrid((6,), [2], [2])  # windows over voxels 0-1, 2-3, 4-5
    items = [(0, 2), (0, 0), (0, 1)]
    calls = []
    progress = run.progress(len(items))
    progress.callback = lambda done, total: calls.append((done, total))
    scorer = WindowScorer(run, 2, progress, per_class=True)
    sums = DropSums(x, scorer.classes)
    drops = scorer.evaluate(grid, Occluder("constant", 0.0, 0.25, x, [2]), items, sums)
    # hiding voxels 4-5 removes 5*3 + 6*3 = 33, voxels 0-1 remove 1 + 2 = 3, voxels 2-3 remove 6 + 8 = 14
    assert drops.tolist() == [33.0, 3.0, 14.0]
    drop, per_class, _ = sums.mean()
    assert drop[0].tolist() == [3.0, 3.0, 14.0, 14.0, 33.0, 33.0]
    assert scorer.classes == 2 and per_class[0, 1].abs().sum() == 0  # logit 1 is always 0: no drop
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    assert scorer.buffer.shape == (2, 1, 6)  # one reused buffer of the batch size
