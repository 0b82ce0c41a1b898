"""Options: aug_smooth (flips along every axis undone before averaging: checked against a manual
flip-explain-unflip and on a symmetric scene where it must change nothing), and the ReLU switch.

eigen_smooth (the first principal component of the weighted activations) is CamMethod's: in
``methods/cam/test_base.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.engine_models import BlobNet, PatternNet, SmallCNN, TinyUNet, blob_image
from helpers.numerics import close
from SaliencyExplorerLib import explain


def manual_aug_smooth(model, x, method, target, layers, **kw):
    """Identity plus one flip per spatial axis: explain the flipped input, flip the map back, average."""
    maps = [explain(model, x, method, layers=layers, target=target, **kw).raw]
    for axis in range(x.dim() - 2):
        flipped = explain(model, torch.flip(x, [axis + 2]), method, layers=layers, target=target, **kw).raw
        maps.append(np.flip(flipped, axis + 1))
    return np.mean(maps, 0)


@pytest.mark.parametrize("method", ["gradcam", "scorecam", "eigencam"])
def test_aug_smooth_equals_manual_flip_explain_unflip_in_3d(method):
    model = SmallCNN(dims=3, channels=4, classes=3, seed=9).eval()
    x = torch.randn(2, 1, 6, 8, 10, generator=torch.Generator().manual_seed(3))
    res = explain(model, x, method, layers="features", target=[2, 0], aug_smooth=True)
    truth = manual_aug_smooth(model, x, method, [2, 0], "features")
    close(res.raw, truth)
    plain = explain(model, x, method, layers="features", target=[2, 0])
    assert not np.allclose(plain.raw, res.raw, atol=1e-4 * float(np.abs(plain.raw).max()))


def test_aug_smooth_keeps_the_first_pass_class():
    """The flipped passes explain the class chosen on the original input, even if a flip changes it."""
    model = SmallCNN(dims=2, channels=4, classes=3, seed=2).eval()
    x = torch.randn(1, 1, 12, 14, generator=torch.Generator().manual_seed(5))
    res = explain(model, x, "gradcam", layers="features", aug_smooth=True)
    truth = manual_aug_smooth(model, x, "gradcam", res.target, "features")
    close(res.raw, truth)


def test_aug_smooth_flips_a_segmentation_mask_with_the_input():
    model = TinyUNet(dims=2, classes=3, seed=1).eval()
    x = torch.randn(1, 1, 12, 16, generator=torch.Generator().manual_seed(6))
    mask = torch.zeros(1, 12, 16, dtype=torch.bool)
    mask[0, 1:5, 9:15] = True
    res = explain(model, x, "gradcam", layers="dec", task="segmentation", target=1, mask=mask, aug_smooth=True)
    maps = []
    for axes in ((), (0,), (1,)):
        xin = torch.flip(x, [a + 2 for a in axes]) if axes else x
        min_ = torch.flip(mask, [a + 1 for a in axes]) if axes else mask
        out = explain(model, xin, "gradcam", layers="dec", task="segmentation", target=1, mask=min_).raw
        maps.append(np.flip(out, [a + 1 for a in axes]) if axes else out)
    close(res.raw, np.mean(maps, 0))


@pytest.mark.parametrize("shape", [(24, 32, 40), (40, 56)])
def test_aug_smooth_leaves_a_symmetric_scene_unchanged(shape):
    """A noise-free blob at the exact centre and a flip-equivariant model: every flip gives the same map."""
    model = BlobNet(len(shape))
    x = blob_image(shape, [(s - 1) / 2 for s in shape], radius=4.0, noise=0.0)
    plain = explain(model, x, "gradcam")
    smooth = explain(model, x, "gradcam", aug_smooth=True)
    assert plain.raw.max() > 0
    close(smooth.raw, plain.raw)


def test_relu_switch_on_a_full_resolution_layer():
    model = PatternNet(2, "mean")
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 1, 9, 12)).astype(np.float32))
    signed = explain(model, x, "gradcam", layers="features", target=[1, 2], relu=False)
    rectified = explain(model, x, "gradcam", layers="features", target=[1, 2])
    assert signed.raw.min() < 0 < signed.raw.max()
    close(rectified.raw, np.maximum(signed.raw, 0))
    assert rectified.options["relu"] is True and signed.options["relu"] is False
    # 1 = most important in both: the heatmap's maximum is where the signed map is largest
    for i in range(2):
        assert np.argmax(signed.heatmap[i]) == np.argmax(signed.raw[i])
