"""CAM-family maps against closed forms computed in numpy, independently of torch and of the engine.

PatternNet = conv (four hand-set pattern kernels) -> ReLU -> pooling -> linear. With global average
pooling the gradient at the ReLU output is W[k, c] / P everywhere, so
    CAM_k = sum_c W[k, c] A_c,     Grad-CAM_k = ReLU(sum_c W[k, c] / P * A_c);
with a fixed spatial weighting M instead, the gradient is W[k, c] * M(i), which separates HiResCAM,
XGrad-CAM, LayerCAM and Grad-CAM++. Inputs are non-cubic so an axis mix-up changes the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers.engine_models import FC_BIAS, FC_WEIGHT, PatternNet, numpy_pattern_activations
from SaliencyExplorerLib import explain

SHAPES = {2: (9, 12), 3: (5, 6, 7)}


def make_input(dims: int, seed: int = 3) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0.0, 1.0, size=(1, 1) + SHAPES[dims]).astype(np.float32))


def assert_close(actual, expected, rtol=2e-4):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.abs(expected).max()), 1e-12)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=0, atol=rtol * scale)


def minmax(a):
    return (a - a.min()) / (a.max() - a.min())


def channel_sum(weights, activations):
    """sum_c weights[c] * A_c, weights broadcast against (C, *spatial)."""
    weights = np.asarray(weights, dtype=np.float64)
    return (weights.reshape(weights.shape + (1,) * (activations.ndim - weights.ndim)) * activations).sum(0)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("klass", [0, 1, 2])
def test_cam_and_gradcam_equal_their_closed_form_on_gap_linear(dims, klass):
    x = make_input(dims)
    model = PatternNet(dims, "mean")
    a = numpy_pattern_activations(x[0].numpy())
    positions = a[0].size
    cam = channel_sum(FC_WEIGHT[klass], a)

    res = explain(model, x, "cam", layers="features", target=klass)
    assert res.target == [klass]
    assert_close(res.scores[0], FC_WEIGHT @ a.reshape(4, -1).mean(1) + FC_BIAS)
    assert_close(res.raw[0], np.maximum(cam, 0))
    assert_close(res.heatmap[0], minmax(np.maximum(cam, 0)), rtol=1e-4)

    res = explain(model, x, "gradcam", layers="features", target=klass)
    assert_close(res.raw[0], np.maximum(cam / positions, 0))

    signed = explain(model, x, "cam", layers="features", target=klass, relu=False)
    assert (cam < 0).any() and (cam > 0).any()  # the case really has both signs
    assert_close(signed.raw[0], cam)


@pytest.mark.parametrize("dims", [2, 3])
def test_gradient_weighted_variants_equal_closed_forms_when_gradient_varies_in_space(dims):
    rng = np.random.default_rng(11)
    mask = rng.uniform(-0.5, 1.0, size=SHAPES[dims])
    model = PatternNet(dims, "mask", mask)
    x = make_input(dims, seed=5)
    a = numpy_pattern_activations(x[0].numpy())
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    for klass in (0, 1):
        g = FC_WEIGHT[klass].reshape((4,) + (1,) * dims) * mask[None]  # d score / d A_c(i)
        sums = a.reshape(4, -1).sum(1)
        g2, g3 = g ** 2, g ** 3
        denominator = 2 * g2 + sums.reshape((4,) + (1,) * dims) * g3
        alpha = np.where(g != 0, g2 / np.where(denominator != 0, denominator, 1.0), 0.0)
        expected = {
            "gradcam": relu(channel_sum(g.reshape(4, -1).mean(1), a)),
            "hirescam": relu((g * a).sum(0)),
            "xgradcam": relu(channel_sum((g * a).reshape(4, -1).sum(1) / (sums + 1e-7), a)),
            "layercam": relu((relu(g) * a).sum(0)),
            "gradcam++": relu(channel_sum((alpha * relu(g)).reshape(4, -1).sum(1), a)),
        }
        for method, truth in expected.items():
            res = explain(model, x, method, layers="features", target=klass)
            assert truth.max() > 0, method
            assert_close(res.raw[0], truth, rtol=5e-4)
        # the variants genuinely differ here, so the comparisons above could fail
        assert not np.allclose(minmax(expected["hirescam"]), minmax(expected["gradcam"]), atol=1e-2)


class RankOneNet(nn.Module):
    """1x1 conv without bias: A_c = w_c * x, rank one, so its first principal component is known."""

    def __init__(self, dims: int):
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[dims](1, 3, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([0.5, 1.0, -0.2]).reshape(3, 1, *([1] * dims)))
        self.features = conv
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.5, 0.3], [-1.0, -0.6, 0.2]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.features(x).flatten(2).mean(2))


@pytest.mark.parametrize("dims", [2, 3])
def test_eigen_maps_of_rank_one_activations_are_the_centred_input(dims):
    """A = w x^T: first component = |w| (x - mean x), its sign set so that it agrees with sum_c A_c.
    Eigen-Grad-CAM uses a*g = (w_c W[k,c] / P) x, so its sign follows sum_c w_c W[k,c]."""
    x = make_input(dims, seed=8)
    xv = x[0, 0].numpy().astype(np.float64)
    centred = xv - xv.mean()
    w = np.array([0.5, 1.0, -0.2])
    fc = np.array([[1.0, 0.5, 0.3], [-1.0, -0.6, 0.2]])
    model = RankOneNet(dims)
    res = explain(model, x, "eigencam", layers="features")
    assert_close(res.raw[0], np.maximum(np.linalg.norm(w) * centred, 0), rtol=1e-4)
    for klass in (0, 1):
        wk = w * fc[klass]
        sign = np.sign(wk.sum())
        res = explain(model, x, "eigengradcam", layers="features", target=klass)
        truth = np.maximum(sign * np.linalg.norm(wk) / xv.size * centred, 0)
        assert_close(res.raw[0], truth, rtol=1e-4)
    assert np.sign((w * fc[0]).sum()) != np.sign((w * fc[1]).sum())  # both signs are exercised


@pytest.mark.parametrize("dims", [2, 3])
def test_ablationcam_weights_are_relative_score_drops(dims):
    """Zeroing channel c removes W[k, c] * mean(A_c) from the logit: weight = that / |y_k|."""
    x = make_input(dims, seed=4)
    a = numpy_pattern_activations(x[0].numpy())
    means = a.reshape(4, -1).mean(1)
    logits = FC_WEIGHT @ means + FC_BIAS
    model = PatternNet(dims, "mean")
    for klass in (0, 2):
        weights = FC_WEIGHT[klass] * means / abs(logits[klass])
        res = explain(model, x, "ablationcam", layers="features", target=klass, batch_size=3)
        assert_close(res.raw[0], np.maximum(channel_sum(weights, a), 0), rtol=1e-4)


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
