"""The partial blend behind the wavefront (core/region_guess.py): neighbours as the windows' voxels overlap,
the guess equal to the target's own region once every window is known, and the flip evidence counted."""

import pytest
import torch
from SaliencyExplorerLib.core.region_guess import RegionGuess, neighbours
from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
from SaliencyExplorerLib.core.targets import resolve_target

SHAPE, ROI = (40, 36, 28), (16, 16, 16)


@pytest.mark.parametrize("overlap, tiling", [(0.25, "monai"), (0.5, "monai"), (0.5, "nnunet")])
def test_neighbours_are_the_windows_sharing_voxels(overlap, tiling):
    plan = WindowPlan(SlidingWindow(roi_size=ROI, overlap=overlap, tiling=tiling), SHAPE)
    cover = []
    for w in range(len(plan)):
        grid = torch.zeros(plan.padded, dtype=torch.bool)
        grid[plan.slices(w)] = True
        cover.append(grid)
    found = neighbours(plan)
    for w in range(len(plan)):
        assert found[w] == {u for u in range(len(plan)) if u != w and bool((cover[w] & cover[u]).any())}


def outputs(plan, model, x):
    with torch.no_grad():
        padded = plan.pad_input(x)
        return [model(plan.gather(padded, [(0, w)]))[0] for w in range(len(plan))]


@pytest.mark.parametrize("blend, shape", [("gaussian", SHAPE), ("constant", (40, 12, 28))])  # (12: padded to 16)
def test_the_guess_is_the_targets_region_once_all_windows_are_known(blend, shape):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv3d(3, 3, 3)).eval()
    model = torch.nn.Sequential(model, torch.nn.ReplicationPad3d(1))
    x = torch.randn(1, 1, *shape)
    plan = WindowPlan(SlidingWindow(roi_size=ROI, overlap=0.25, blend=blend), shape)
    guess = RegionGuess(plan, 1, [None])
    for w, y in enumerate(outputs(plan, model, x)):
        guess.add((0, w), y)
    truth = plan.infer(model, x)  # the blend as MONAI makes it (checked against MONAI in test_sliding_window)
    assert torch.allclose(guess.blended(), truth, atol=1e-6)
    target = resolve_target(None, truth, 3, "segmentation")
    masks = plan.pad_output(target.masks[:, None])[0, 0].bool()
    for w in range(len(plan)):
        c, mask = guess.guess((0, w))
        assert c == target.classes[0]
        assert torch.equal(mask, masks[plan.slices(w)])


def test_flips_are_counted_per_pair_of_overlapping_windows():
    plan = WindowPlan(SlidingWindow(roi_size=ROI, overlap=0.25), SHAPE)
    pairs = sum(len(n) for n in neighbours(plan)) // 2
    x = torch.randn(1, 1, *SHAPE)
    pointwise = torch.nn.Conv3d(1, 2, 1).eval()  # windows agree wherever they overlap: no mask ever changes
    guess = RegionGuess(plan, 1, [1])
    for w, y in enumerate(outputs(plan, pointwise, x)):
        guess.add((0, w), y)
    assert (guess.events, guess.flips) == (pairs, 0) and guess.flip_rate() == 1 / (pairs + 2)
    # every window says the opposite of the one before it where they overlap: each pair's mask changes
    guess = RegionGuess(plan, 1, [1])
    for w in range(len(plan)):
        sign = 1.0 if w % 2 else -1.0
        y = torch.stack([torch.zeros(ROI), torch.full(ROI, sign * (1 + w))])
        guess.add((0, w), y)
    assert guess.events == pairs and guess.flips > pairs // 2


def test_the_default_class_is_the_most_voted_foreground():
    plan = WindowPlan(SlidingWindow(roi_size=ROI), SHAPE)
    guess = RegionGuess(plan, 1, [None])
    y = torch.zeros(3, *ROI)
    y[0] = 5  # background wins everywhere but a corner, where class 2 does
    y[2, :4, :4, :4] = 9
    guess.add((0, 0), y)
    assert guess.class_of(0) == 2


@pytest.mark.parametrize("k", [1, 2, 5])
def test_winners_are_torchs_argmax_ties_included(k):
    from SaliencyExplorerLib.core.region_guess import winners

    values = torch.randint(-2, 3, (k, 6, 7, 5), generator=torch.Generator().manual_seed(k)).float()  # many ties
    expected = (values[0] > 0).long() if k == 1 else values.argmax(0)
    assert torch.equal(winners(values), expected)
