"""Whole-scan CAMs explained during the clean pass (core/ready_windows.py): each window once its overlapping
windows ran, with the weights the finished blend gives; the tail's store then holds about a slab of windows,
and the maps equal those of explaining every window after the clean pass."""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.core import ready_windows
from SaliencyExplorerLib.core.ready_windows import ReadyWindows
from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
from SaliencyExplorerLib.core.targets import resolve_target

pytest.importorskip("monai")
from helpers.window_models import ROI  # noqa: E402

SPEC = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 2}


@pytest.mark.parametrize("shape", [(40, 36, 28), (40, 12, 28)])  # 12: padded to one window on that axis
def test_each_window_is_ready_once_after_its_neighbours_with_the_final_weights(shape):
    torch.manual_seed(0)
    model = torch.nn.Conv3d(1, 3, 3, padding=1).eval()
    x = torch.randn(1, 1, *shape)
    plan = WindowPlan(SlidingWindow(roi_size=ROI, overlap=0.25, blend="gaussian"), shape)
    ready, total, seen, answered = ReadyWindows(plan, 1, 2), None, set(), []
    padded = plan.pad_input(x)
    for w in range(len(plan)):
        with torch.no_grad():
            y = model(plan.gather(padded, [(0, w)]))
        if total is None:
            total = torch.zeros((1, 3, *plan.padded))
        plan.add(total, [(0, w)], y)
        seen.add(w)
        for item in ready.add([(0, w)], total):
            assert all(u in seen for u in range(len(plan)) if u != item[1] and overlaps(plan, item[1], u))
            answered.append((item, ready.weights(item, total)))
    assert sorted(item for item, _ in answered) == plan.items(1)  # every window, once
    final = plan.finish(total)
    grid = plan.pad_output(torch.autograd.functional.jacobian(lambda y: score(y, final), final)[None])[0]
    for (i, w), weights in answered:
        assert torch.equal(weights, grid[(i, slice(None), *plan.slices(w))])


def overlaps(plan, w, u):
    return all(abs(a - b) < r for a, b, r in zip(plan.starts[w], plan.starts[u], plan.roi))


def score(y, final):
    """The target's own score (class 2 over its predicted region), its region from the finished blend."""
    target = resolve_target(2, final, 3, "segmentation")
    return target.score(y, torch.arange(1))[0]


def both(model, x, method, monkeypatch, target=1):
    """(explained during the clean pass, explained after it) on the predicted region of `target`."""
    from SaliencyExplorerLib.core.engine import explain

    during = explain(model, x, method, target=target, task="segmentation", sliding_window=SPEC)
    monkeypatch.setattr(ready_windows, "applies", lambda run: False)
    after = explain(model, x, method, target=target, task="segmentation", sliding_window=SPEC)
    monkeypatch.undo()
    return during, after


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_the_store_holds_a_slab_and_the_map_is_unchanged(unet, volume, method, monkeypatch):
    during, after = both(unet, volume, method, monkeypatch)
    # the same weights; the maps are summed in another order (and other window batches): float rounding
    np.testing.assert_allclose(during.raw, after.raw, rtol=1e-5, atol=1e-6 * float(np.abs(after.raw).max()))
    counts = during.extras["sliding_windows"]
    # 3 x 3 x 2 windows in MONAI's order: window (a, b, c) waits for (a+1, b+1, c+1), 9 windows later
    assert counts["stored_peak"] <= 11 and "stored_peak" not in after.extras["sliding_windows"]
    assert during.passes == after.passes and counts["tail_only"] == 18


def test_a_class_predicted_nowhere_recomputes_the_windows_it_dropped(monkeypatch):
    """No voxel of the class: every window waits, its stored outputs dropped; the whole grid is then explained
    (the target's rule) by recomputing them, and the map is what explaining after the clean pass gives."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 2, 1))
    with torch.no_grad():
        model[2].bias.copy_(torch.tensor([50.0, -50.0]))  # class 1 never wins
    x = torch.randn(1, 1, 40, 36, 28)
    during, after = both(model.eval(), x, "gradcam", monkeypatch)
    np.testing.assert_allclose(during.raw, after.raw, rtol=1e-5, atol=1e-6 * float(np.abs(after.raw).max()))
    assert any("predicts no voxel of class 1" in w for w in during.warnings)
    assert "tail_only" not in during.extras["sliding_windows"]  # all recomputed: nothing left in the store


def test_a_default_class_keeps_every_window_for_the_end(unet, volume):
    """The default class (the most predicted one) is known only at the end: the store keeps every window."""
    from SaliencyExplorerLib.core.engine import explain

    result = explain(unet, volume, "gradcam", task="segmentation", sliding_window=SPEC)
    assert "stored_peak" not in result.extras["sliding_windows"]
