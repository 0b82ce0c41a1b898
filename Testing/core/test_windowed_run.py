"""Explanations over sliding windows (core/windowed_run.py) checked against MONAI itself: gradients against
autograd through MONAI's whole sliding_window_inference, CAMs on a planted lesion across window borders,
occlusion reusing untouched windows. Small models are defined here."""

import numpy as np
import pytest
import torch

monai = pytest.importorskip("monai")
from helpers.window_models import ROI, SHAPE, BrightBlobSeg, relative_error  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402

# ---------------------------------------------------------------- gradients over windows
MASK = torch.zeros(SHAPE)
MASK[5:15, 20:30, 3:12] = 1


def monai_gradient(model, x, score, overlap, blend):
    leaf = x.clone().requires_grad_(True)
    y = sliding_window_inference(leaf, ROI, 4, model, overlap=overlap, mode=blend)
    (grad,) = torch.autograd.grad(score(y).sum(), leaf)
    return grad


def agreement(ours, ref):
    r = float(torch.corrcoef(torch.stack([ours.flatten(), ref.flatten()]))[0, 1])
    return r, relative_error(ours, ref)


@pytest.mark.parametrize("overlap, blend", [(0.25, "gaussian"), (0.5, "constant")])
@pytest.mark.parametrize("probability", [False, True])
def test_saliency_over_windows_is_the_gradient_through_monai(unet, volume, overlap, blend, probability):
    from SaliencyExplorerLib.core.engine import explain

    def score(y):  # a segmentation target: class 1's logits (or probabilities) summed over a region
        values = torch.softmax(y, 1) if probability else y
        return (values[:, 1] * MASK).flatten(1).sum(1)

    ref = monai_gradient(unet, volume, score, overlap, blend)
    target = score if probability else 1
    result = explain(
        unet,
        volume,
        "saliency",
        target=target,
        task="segmentation",
        mask=None if probability else MASK,
        sliding_window={"roi_size": ROI, "overlap": overlap, "blend": blend, "sw_batch_size": 3},
    )
    r, error = agreement(torch.from_numpy(result.extras["attributions"]), ref)
    assert r >= 0.999 and error <= 1e-4, (r, error)
    counts = result.extras["sliding_windows"]
    if not probability:  # windows outside the region cost no backward pass
        assert (
            0 < counts["skipped"] < counts["windows"]
            and result.passes["backward"] == counts["windows"] - counts["skipped"]
        )


def test_blended_scores_are_reported(unet, volume):
    from SaliencyExplorerLib.core.engine import explain

    result = explain(
        unet,
        volume,
        "inputxgradient",
        target=1,
        task="segmentation",
        mask=MASK,
        sliding_window={"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 5},
    )
    with torch.no_grad():
        ref = sliding_window_inference(volume, ROI, 1, unet, overlap=0.25, mode="gaussian")
    assert relative_error(torch.from_numpy(result.scores), ref) <= 1e-5
    grad = monai_gradient(unet, volume, lambda y: (y[:, 1] * MASK).flatten(1).sum(1), 0.25, "gaussian")
    assert agreement(torch.from_numpy(result.extras["attributions"]), volume * grad)[0] >= 0.999


# ---------------------------------------------------------------- CAMs over windows
def lesion_volume(center, shape=(40, 40, 28)):
    grid = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float) for s in shape], indexing="ij"))
    distance = ((grid - torch.tensor(center, dtype=torch.float).reshape(3, 1, 1, 1)) ** 2).sum(0).sqrt()
    noise = 0.05 * torch.randn(shape, generator=torch.Generator().manual_seed(3))
    return ((distance <= 3).float() + noise)[None, None]


@pytest.mark.parametrize("center", [(20, 30, 8), (16, 12, 14)])  # inside windows; straddling window borders
def test_gradcam_over_windows_finds_the_planted_lesion(center):
    from SaliencyExplorerLib.core.engine import explain

    model, x = BrightBlobSeg().eval(), lesion_volume(center)
    maps = []
    for batch in (1, 4, 18):
        spec = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": batch}
        result = explain(model, x, "gradcam", layers="features", target=1, task="segmentation", sliding_window=spec)
        counts = result.extras["sliding_windows"]
        assert counts["windows"] == 18  # 3 x 3 x 2 windows
        assert 0 < counts["skipped"] < 18  # windows away from the lesion: no backward pass
        assert result.passes["backward"] == 18 - counts["skipped"]
        maps.append(result.heatmap[0])
    peak = torch.tensor(divmod_index(maps[0].argmax(), maps[0].shape), dtype=torch.float)
    assert float((peak - torch.tensor(center, dtype=torch.float)).norm()) <= 3.0
    for other in maps[1:]:  # identical for any window batch size
        assert abs(other - maps[0]).max() < 1e-5


def divmod_index(flat, shape):
    out = []
    for size in reversed(shape):
        flat, rest = divmod(int(flat), size)
        out.append(rest)
    return tuple(reversed(out))


# ---------------------------------------------------------------- occlusion over windows
class MonaiWhole(torch.nn.Module):
    """The model as MONAI runs it on a whole scan (the reference for perturbation methods)."""

    def __init__(self, model, **settings):
        super().__init__()
        self.model, self.settings = model, settings

    def forward(self, x):
        return sliding_window_inference(x, ROI, 4, self.model, **self.settings)


def test_occlusion_over_windows_equals_monai_and_reuses_untouched_windows(unet, volume):
    from SaliencyExplorerLib.core.engine import explain

    options = {"target": 1, "task": "segmentation", "mask": MASK, "window": 12, "batch_size": 4}
    ref = explain(MonaiWhole(unet, overlap=0.25, mode="gaussian"), volume, "occlusion", **options)
    ours = explain(
        unet,
        volume,
        "occlusion",
        **options,
        sliding_window={"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 4},
    )
    assert relative_error(torch.from_numpy(ours.raw), torch.from_numpy(ref.raw)) <= 1e-4
    counts = ours.extras["sliding_windows"]
    evaluations = ours.extras["evaluations"]
    assert counts["reused"] > 0 and counts["evaluated"] + counts["reused"] == (evaluations + 1) * 18  # + the clean pass
    assert any("reused" in w for w in ours.warnings)


def test_aug_smooth_over_windows_keeps_the_lesion():
    from SaliencyExplorerLib.core.engine import explain

    center = (16, 12, 14)
    result = explain(
        BrightBlobSeg().eval(),
        lesion_volume(center),
        "gradcam",
        layers="features",
        target=1,
        task="segmentation",
        aug_smooth=True,
        sliding_window={"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 6},
    )
    peak = torch.tensor(divmod_index(result.heatmap[0].argmax(), result.heatmap[0].shape), dtype=torch.float)
    assert float((peak - torch.tensor(center, dtype=torch.float)).norm()) <= 3.0


# ---------------------------------------------------------------- transformers over windows
def test_unetr_with_a_fixed_img_size_explains_a_whole_scan_by_windows():
    """UNETR refuses any size but its img_size; over windows it explains a scan 2 x 2 x 1 windows large:
    saliency equals autograd through MONAI's whole sliding_window_inference, and a decoder-layer Grad-CAM
    (token outputs reshaped per window) covers the whole scan."""
    from monai.networks.nets import UNETR
    from SaliencyExplorerLib.core.engine import explain

    torch.manual_seed(0)
    net = UNETR(
        in_channels=1, out_channels=2, img_size=(16, 16, 16), feature_size=4, hidden_size=48, mlp_dim=96, num_heads=4
    ).eval()
    x = torch.randn(1, 1, 28, 24, 16, generator=torch.Generator().manual_seed(2))
    with pytest.raises(Exception):
        net(x)  # the whole scan at once is refused: this is why it must run by windows
    mask = torch.zeros(x.shape[2:])
    mask[4:20, 6:18, 2:12] = 1
    windows = {"roi_size": (16, 16, 16), "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 2}

    leaf = x.clone().requires_grad_(True)
    y = sliding_window_inference(leaf, (16, 16, 16), 2, net, overlap=0.25, mode="gaussian")
    (truth,) = torch.autograd.grad((y[:, 1] * mask).sum(), leaf)
    result = explain(net, x, "saliency", target=1, task="segmentation", mask=mask, sliding_window=windows)
    r, error = agreement(torch.from_numpy(result.extras["attributions"]), truth)
    assert r >= 0.999 and error <= 1e-4, (r, error)

    corner = torch.zeros(x.shape[2:])
    corner[:5, :5, :] = 1  # inside the first window only: windows start at 0 and 12 (i), 0 and 8 (j)
    cam = explain(
        net, x, "gradcam", layers="decoder2", target=1, task="segmentation", mask=corner, sliding_window=windows
    )
    counts = cam.extras["sliding_windows"]
    assert cam.heatmap.shape == (1, 28, 24, 16) and counts["windows"] == 4
    assert cam.passes["backward"] == 1  # only the window that sees the region is explained
    assert np.abs(cam.raw[0, 16:, :, :]).max() == 0 and np.abs(cam.raw[0, :, 16:, :]).max() == 0  # nor lit
    assert np.abs(cam.raw[0, :16, :16, :]).max() > 0


def test_progress_counts_windows_and_announces_them(unet, volume):
    """The callback hears the plan first (the panel then says "window 37 of 150"), then one step per window batch,
    over both phases (the clean pass, then the explanation) as one count."""
    from SaliencyExplorerLib.core.engine import explain

    class Recorder(list):
        def __call__(self, done, total):
            self.append((done, total))

        def status(self, text):
            self.append(text)

    heard = Recorder()
    explain(
        unet,
        volume,
        "saliency",
        target=1,
        task="segmentation",
        mask=MASK,
        progress=heard,
        sliding_window={"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 3},
    )
    windows = 3 * 3 * 2  # 40 x 36 x 28 in windows of 16 at overlap 0.25
    # the clean pass (the blended output, for the target's probabilities) is counted too: one Progress, 2 phases
    assert heard[0] == (
        f"sliding windows: {windows} windows of 16x16x16, each run twice (steps 1-{windows}: the "
        f"model's output, {windows + 1}-{2 * windows}: the explanation)"
    )
    counts = [h for h in heard[1:] if isinstance(h, tuple)]
    assert counts[0] == (0, 2 * windows) and counts[-1] == (2 * windows, 2 * windows)
    assert (windows, 2 * windows) in counts  # the clean pass's last batch ends the first phase
    done = [d for d, _ in counts]
    assert done == sorted(done) and max(b - a for a, b in zip(done, done[1:])) <= 3  # one step per window batch
