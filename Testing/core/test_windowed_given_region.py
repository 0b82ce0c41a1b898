"""Grad-CAM over sliding windows without the clean pass: a logit target on a given region has an output
gradient that does not depend on the output, so only the windows touching the region run (+1 probe)."""

import pytest
import torch
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.core import windowed_run

nets = pytest.importorskip("monai.networks.nets")
SW = dict(roi_size=(16, 16, 16), overlap=0.25, blend="gaussian")


@pytest.mark.parametrize("full", [True, False])
def test_same_map_without_the_clean_pass(monkeypatch, full):
    torch.manual_seed(0)
    model = nets.UNet(3, 1, 3, (4, 8, 16), (2, 2), num_res_units=1).eval()
    x = torch.randn(1, 1, 40, 36, 28)
    mask = torch.ones(40, 36, 28, dtype=torch.bool)
    if not full:
        mask[:] = False
        mask[5:30, 5:20, 3:20] = True
    fast = explain(model, x, "gradcam", target=1, mask=mask, output_activation="none", sliding_window=SW)
    monkeypatch.setattr(windowed_run.WindowedRun, "_output_independent_gradient", lambda self: None)
    slow = explain(model, x, "gradcam", target=1, mask=mask, output_activation="none", sliding_window=SW)
    assert abs(fast.raw - slow.raw).max() == 0
    windows = fast.extras["sliding_windows"]
    assert fast.passes["forward"] == windows["windows"] - windows["skipped"] + 1  # + the probe window
    assert slow.passes["forward"] == windows["windows"]  # the clean pass; each window then runs its tail only
    if full:
        assert abs(fast.scores - slow.scores).max() < 1e-4 and not fast.warnings
    else:
        assert any("no separate clean pass" in w for w in fast.warnings)
