"""Score-CAM: each channel, min-max scaled and upsampled, masks the input; the softmax over channels of
the target's logit on those masked inputs weighs the channels.

Truth: the masked forward passes recomputed in numpy on PatternNet (closed form), and torchcam's
ScoreCAM in 3D on a model whose channel weights are far from uniform.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.cam_closed_form import assert_close, channel_sum, make_input
from helpers.engine_models import FC_BIAS, FC_WEIGHT, PatternNet, SmallCNN, blob_image, numpy_pattern_activations
from helpers.numerics import minmax, pearson
from SaliencyExplorerLib import explain


def numpy_logits(x: np.ndarray) -> np.ndarray:
    return FC_WEIGHT @ numpy_pattern_activations(x).reshape(4, -1).mean(1) + FC_BIAS


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


@pytest.mark.parametrize("dims", [2, 3])
def test_scorecam_weights_are_softmax_of_masked_input_scores(dims):
    """Each channel, min-max scaled, masks the input; the class's logit on the masked input, soft-maxed
    over channels, weighs the channel (torchcam's convention). The masked forward passes are recomputed
    in numpy."""
    x = make_input(dims, seed=6) * 20  # strong contrast: channel weights far from uniform
    xv = x[0].numpy().astype(np.float64)
    a = numpy_pattern_activations(xv)
    model = PatternNet(dims, "mean")
    for klass in (0, 1):
        scores = [numpy_logits(xv * minmax(a[c]))[klass] for c in range(4)]
        weights = softmax(np.array(scores))
        assert weights.max() > 0.35  # far from uniform: the logit convention matters here
        res = explain(model, x, "scorecam", layers="features", target=klass)
        assert_close(res.raw[0], np.maximum(channel_sum(weights, a), 0), rtol=1e-4)


def test_scorecam_agrees_with_torchcam_in_3d():
    """A model whose logits on masked inputs differ by several units, so the channel weights are far
    from uniform and the scoring convention matters (logit, softmax over channels, as torchcam)."""
    torchcam = pytest.importorskip("torchcam.methods")
    model = SmallCNN(dims=3, channels=6, classes=3, seed=2).eval()
    with torch.no_grad():
        model.fc.weight.mul_(1000)
    x = blob_image((12, 16, 20), (3.0, 10.0, 12.0), radius=3, amplitude=3.0, noise=0.5)
    spread = []
    for klass in range(3):
        ours = explain(model, x, "scorecam", layers="features", target=klass, batch_size=4)
        peer_model = copy.deepcopy(model)
        with torchcam.ScoreCAM(peer_model, "features", batch_size=4, input_shape=tuple(x.shape[1:])) as extractor:
            with torch.no_grad():
                peer_model(x)
            weights = extractor._get_weights(klass, None)[0]
            cam = extractor(class_idx=klass)[0]
        spread.append(float(weights.max()))
        peer_map = F.interpolate(cam[:, None], size=x.shape[2:], mode="trilinear", align_corners=False)[:, 0]
        assert pearson(ours.raw[0], peer_map[0]) >= 0.999, klass
    assert max(spread) > 0.3  # uniform would be 1/6: the case discriminates scoring conventions
