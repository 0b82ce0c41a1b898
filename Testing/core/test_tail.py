"""Whole-scan CAMs whose second phase runs only the model's tail (core/tail.py): the maps equal the full
per-window recompute (the reference: `replays_layer` off), the tail reads stored skip connections, a model
whose tail reads something else falls back with a note, and a float16 store stays within half precision."""

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
from helpers.window_models import ROI  # noqa: E402

SPEC = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 2}


def both(model, x, method, layers, monkeypatch):
    """(with the tail replay, with the full recompute) on the predicted region of class 1."""
    from SaliencyExplorerLib.core.engine import explain
    from SaliencyExplorerLib.methods.cam.base import CamMethod

    fast = explain(model, x, method, layers=layers, target=1, task="segmentation", sliding_window=SPEC)
    monkeypatch.setattr(CamMethod, "replays_layer", False)
    full = explain(model, x, method, layers=layers, target=1, task="segmentation", sliding_window=SPEC)
    monkeypatch.setattr(CamMethod, "replays_layer", True)
    return fast, full


@pytest.mark.parametrize(
    "method, layers", [("gradcam", None), ("gradcam++", "model.1.submodule.1"), ("eigencam", "model.1.submodule.1")]
)
def test_the_tail_alone_gives_the_same_map(unet, volume, method, layers, monkeypatch):
    fast, full = both(unet, volume, method, layers, monkeypatch)
    np.testing.assert_allclose(fast.raw, full.raw, rtol=1e-5, atol=1e-6 * float(np.abs(full.raw).max()))
    counts = fast.extras["sliding_windows"]
    assert fast.passes["forward"] == 18 and full.passes["forward"] == 36  # one forward per window, not two
    if method != "eigencam":  # inside the U-Net's skip connection: the tail reads the stored skip tensors
        assert counts["tail_only"] == 18 and fast.passes["backward"] == full.passes["backward"] == 18
        assert fast.passes["tail"] == 18 and full.passes["tail"] == 0  # each replay is a model call, counted
    else:  # Eigen-CAM needs no gradient: the store is its answer, the model is not called again
        assert fast.passes["tail"] == 0
    assert not any("tail" in w for w in fast.warnings)


class DerivedSkip(torch.nn.Module):
    """The tail reads `skip`, computed in forward() from a module output: not a stored module output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.first = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.layer = torch.nn.Conv3d(4, 4, 3, padding=1)
        self.head = torch.nn.Conv3d(4, 2, 1)

    def forward(self, x):
        a = self.first(x)
        skip = torch.relu(a) * 2
        return self.head(self.layer(a) + skip)


def test_a_tail_reading_a_computed_tensor_falls_back_with_a_note(volume, monkeypatch):
    fast, full = both(DerivedSkip().eval(), volume, "gradcam", "layer", monkeypatch)
    np.testing.assert_allclose(fast.raw, full.raw, rtol=1e-5, atol=1e-6 * float(np.abs(full.raw).max()))
    assert any("could not be replayed" in w for w in fast.warnings)
    assert "tail_only" not in fast.extras["sliding_windows"]


def test_a_large_store_is_kept_in_half_precision(unet, volume, monkeypatch):
    from SaliencyExplorerLib.core import tail

    monkeypatch.setattr(tail, "STORE_FP32_LIMIT", 0)
    fast, full = both(unet, volume, "gradcam", "model.1.submodule.1", monkeypatch)
    assert fast.extras["sliding_windows"]["tail_only"] == 18
    r = np.corrcoef(fast.raw.ravel(), full.raw.ravel())[0, 1]
    assert r > 0.9999 and np.abs(fast.raw - full.raw).max() <= 1e-2 * np.abs(full.raw).max()


def test_a_store_larger_than_the_budget_falls_back_with_a_note(unet, volume, monkeypatch):
    from SaliencyExplorerLib.core import tail

    monkeypatch.setattr(tail, "store_budget", lambda device: 1024)
    fast, full = both(unet, volume, "gradcam", None, monkeypatch)
    np.testing.assert_allclose(fast.raw, full.raw, rtol=1e-5, atol=1e-6 * float(np.abs(full.raw).max()))
    assert any("more than a quarter of the free memory" in w for w in fast.warnings)
    assert fast.passes["forward"] == full.passes["forward"] == 36 and fast.passes["tail"] == 0


class ReusedAfter(torch.nn.Module):
    """`first` runs before the layer and again after it: the replay meets a call it did not record."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.first = torch.nn.Conv3d(1, 2, 3, padding=1)
        self.layer = torch.nn.Conv3d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.layer(self.first(x)) + 0.5 * self.first(x)


def test_a_module_called_again_after_the_layer_falls_back_with_a_note(volume, monkeypatch):
    fast, full = both(ReusedAfter().eval(), volume, "gradcam", "layer", monkeypatch)
    np.testing.assert_allclose(fast.raw, full.raw, rtol=1e-5, atol=1e-6 * float(np.abs(full.raw).max()))
    assert any("another order" in w for w in fast.warnings)


def test_a_forward_that_pops_a_module_output_list_still_replays_the_tail(monkeypatch):
    """MONAI's SegResNetDS (taps' network) pops its encoder's output list in forward(): the stored answer is a
    copy of the list as the encoder returned it, so the tail replays (it fell back to the recompute before)."""
    from monai.networks.nets import SegResNetDS

    torch.manual_seed(0)
    net = SegResNetDS(spatial_dims=3, in_channels=1, out_channels=2, init_filters=4, blocks_down=(1, 1, 1)).eval()
    x = torch.randn(1, 1, 40, 36, 28, generator=torch.Generator().manual_seed(1))
    fast, full = both(net, x, "gradcam", None, monkeypatch)
    np.testing.assert_allclose(fast.raw, full.raw, rtol=1e-5, atol=1e-6 * float(np.abs(full.raw).max()))
    assert not any("could not be replayed" in w for w in fast.warnings)
    assert fast.passes["tail"] == fast.extras["sliding_windows"]["tail_only"] > 0
