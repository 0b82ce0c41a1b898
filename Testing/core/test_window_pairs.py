"""Two windows per forward and backward on the CPU (core/window_pairs.py): the map is the one-window path's and
the gradient through MONAI's own sliding_window_inference to float rounding, the prediction is MONAI's to the
bit (the clean pass keeps sw_batch_size), pairs are taken only where they fit, and the graph is measured right."""

import pytest
import torch
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.core import window_pairs
from SaliencyExplorerLib.core.window_pairs import GraphBytes
from SaliencyExplorerLib.methods.gradient.saliency import Saliency

monai = pytest.importorskip("monai")
from helpers.window_models import ROI, relative_error  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402

SW = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian"}


def test_pairs_give_the_gradient_through_monai(unet, volume):
    leaf = volume.clone().requires_grad_(True)
    y = sliding_window_inference(leaf, ROI, 1, unet, overlap=0.25, mode="gaussian")
    region = (y.detach().argmax(1) == 2).float()
    (ref,) = torch.autograd.grad((y[:, 2] * region).sum(), leaf)
    result = explain(unet, volume, "saliency", target=2, sliding_window=SW)
    counts = result.extras["sliding_windows"]
    assert counts["graph_batch"] == 2
    assert relative_error(torch.from_numpy(result.extras["attributions"]), ref) < 1e-5
    # the clean pass at sw_batch_size 1, then every window with a region voxel once with its graph
    assert result.passes["forward"] == counts["windows"] + result.passes["backward"]
    assert result.passes["backward"] == counts["windows"] - counts["skipped"]
    # the reported output is MONAI's own inference, not the pairs' (whose rounding differs)
    with torch.no_grad():
        monai_y = sliding_window_inference(volume, ROI, 1, unet, overlap=0.25, mode="gaussian")
    assert torch.equal(torch.from_numpy(result.scores), monai_y)


@pytest.mark.parametrize("method", ["saliency", "gradcam++"])
def test_pairs_and_one_window_per_pass_give_one_map(monkeypatch, unet, volume, method):
    """Saliency, and a CAM whose windows run again (two layers: no replay from the clean pass); one window per
    pass after the same clean pass (the wavefront, which assembles its output otherwise, off)."""
    layers = ["model.0", "model.1.submodule.0"] if method == "gradcam++" else None
    paired = explain(unet, volume, method, layers=layers, target=1, sliding_window=SW)
    monkeypatch.setattr(window_pairs, "ENABLED", False)
    monkeypatch.setattr(Saliency, "wavefront", False)
    single = explain(unet, volume, method, layers=layers, target=1, sliding_window=SW)
    assert paired.extras["sliding_windows"].get("graph_batch") == 2
    assert "graph_batch" not in single.extras["sliding_windows"]
    assert abs(paired.raw - single.raw).max() <= 1e-5 * abs(single.raw).max()
    assert (paired.scores == single.scores).all()


def test_no_pairs_when_two_graphs_do_not_fit(monkeypatch, unet, volume):
    monkeypatch.setattr(window_pairs, "available_memory", lambda: 1 << 20)  # 1 MiB free
    result = explain(unet, volume, "saliency", target=1, sliding_window=SW)
    assert result.extras["sliding_windows"]["graph_batch"] == 1


def test_batch_size_one_keeps_one_window_per_pass(unet, volume):
    """The caller's way to the least memory: one window's graph at a time (then the wavefront runs)."""
    result = explain(unet, volume, "saliency", target=1, sliding_window=SW, batch_size=1)
    counts = result.extras["sliding_windows"]
    assert "graph_batch" not in counts and counts["ran_ahead"] > 0


def test_pairs_only_where_they_pay(monkeypatch):
    class Run:
        def __init__(self, device="cpu", size=1, windows=18, n=1, batch_size=None):
            self.device, self.x = torch.device(device), torch.zeros(n, 1, 4, 4, 4)
            self.sliding = type("S", (), {"sw_batch_size": size})()
            self.plan, self.batch_size = [None] * windows, batch_size

    assert window_pairs.pairs_pay(Run())
    assert not window_pairs.pairs_pay(Run(size=2))  # the card batches windows already
    assert not window_pairs.pairs_pay(Run(windows=1))
    assert window_pairs.pairs_pay(Run(windows=1, n=2))  # one window of two samples
    assert not window_pairs.pairs_pay(Run(device="meta"))
    assert not window_pairs.pairs_pay(Run(batch_size=1)) and window_pairs.pairs_pay(Run(batch_size=3))
    monkeypatch.setenv("SALIENCY_BATCH_SIZE", "1")
    assert not window_pairs.pairs_pay(Run()) and window_pairs.pairs_pay(Run(batch_size=2))
    monkeypatch.delenv("SALIENCY_BATCH_SIZE")
    with torch.backends.mkldnn.flags(enabled=False):
        assert not window_pairs.pairs_pay(Run())


def test_graph_bytes_counts_each_saved_storage_once_and_no_parameters():
    x = torch.randn(1000, requires_grad=True)
    with GraphBytes() as graph:
        (x * x).sum()  # x saved twice: one storage
    assert graph.total == x.nbytes
    with GraphBytes() as graph:
        y = torch.exp(x)  # saves its result
        (y * 2).sum()  # a scalar factor saves nothing
    assert graph.total == y.nbytes
    conv = torch.nn.Conv1d(1, 3, 5)
    signal = torch.randn(1, 1, 64, requires_grad=True)
    with GraphBytes() as graph:
        conv(signal)  # saves the input and the weight (a parameter: not counted)
    assert graph.total == signal.nbytes


def test_perturbed_windows_in_pairs_give_monai_s_occlusion(monkeypatch, unet, volume):
    """Occlusion over windows re-runs only the windows an occluder changed, now two at a time: the map equals
    occlusion of MONAI's whole sliding_window_inference (each perturbed input inferred from scratch)."""
    from helpers.window_models import SHAPE

    mask = torch.zeros(SHAPE, dtype=torch.bool)
    mask[10:30, 8:24, 6:20] = True
    options = {"target": 1, "task": "segmentation", "mask": mask, "window": 12}

    class MonaiWhole(torch.nn.Module):
        def forward(self, x):
            return sliding_window_inference(x, ROI, 1, unet, overlap=0.25, mode="gaussian")

    ref = explain(MonaiWhole(), volume, "occlusion", **options)
    paired = explain(unet, volume, "occlusion", **options, sliding_window=SW)
    monkeypatch.setattr(window_pairs, "ENABLED", False)
    single = explain(unet, volume, "occlusion", **options, sliding_window=SW)
    assert paired.extras["sliding_windows"]["perturbed_batch"] == 2
    assert single.extras["sliding_windows"]["perturbed_batch"] == 1
    assert relative_error(torch.from_numpy(paired.raw), torch.from_numpy(ref.raw)) <= 1e-4
    assert relative_error(torch.from_numpy(paired.raw), torch.from_numpy(single.raw)) <= 1e-4
    assert paired.extras["sliding_windows"]["evaluated"] == single.extras["sliding_windows"]["evaluated"]
