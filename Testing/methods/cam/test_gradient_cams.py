"""CAM-family maps against closed forms computed in numpy, independently of torch and of the engine.

PatternNet = conv (four hand-set pattern kernels) -> ReLU -> pooling -> linear. With global average
pooling the gradient at the ReLU output is W[k, c] / P everywhere, so
    CAM_k = sum_c W[k, c] A_c,     Grad-CAM_k = ReLU(sum_c W[k, c] / P * A_c);
with a fixed spatial weighting M instead, the gradient is W[k, c] * M(i), which separates HiResCAM,
XGrad-CAM, LayerCAM and Grad-CAM++. Inputs are non-cubic so an axis mix-up changes the numbers.
Score-CAM and Ablation-CAM, which weigh channels by re-running the model: ``test_scorecam.py``,
``test_ablationcam.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.cam_closed_form import SHAPES, assert_close, channel_sum, make_input
from helpers.engine_models import FC_BIAS, FC_WEIGHT, PatternNet, numpy_pattern_activations
from helpers.numerics import minmax
from SaliencyExplorerLib import explain
from torch import nn


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
        g2, g3 = g**2, g**3
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


def test_cam_with_a_conv_as_fc_layer_lists_the_linear_layers():
    from SaliencyExplorerLib.errors import SaliencyError

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(
        SaliencyError,
        match=r"fc_layer '0' is a Conv2d, not nn.Linear\. Give fc_layer one of the "
        r"model's Linear layers: '4'\.",
    ):
        explain(model, torch.randn(1, 1, 8, 8), method="cam", layers="0", fc_layer="0")


class _WithUnusedLinear(PatternNet):
    """PatternNet with a Linear(4, 3) defined after the classifier and never called: the last Linear of the
    right size, which CAM must not take."""

    def __init__(self):
        super().__init__(3, "mean")
        self.unused = nn.Linear(4, 3)
        with torch.no_grad():
            self.unused.weight.fill_(7.0)


class _TokenMlp(nn.Module):
    """A per-token MLP Linear(4, 8) that runs on the features before the target layer (as a transformer block's
    MLP does in SwinUNETR), then a convolutional head: no Linear takes the target layer's pooled output."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv3d(1, 4, 3, padding=1)
        self.mlp = nn.Linear(4, 8)
        self.back = nn.Linear(8, 4)
        self.decoder1 = nn.Conv3d(4, 4, 3, padding=1)
        self.out = nn.Conv3d(4, 2, 1)

    def forward(self, x):
        a = self.stem(x)
        tokens = a.flatten(2).transpose(1, 2)  # (N, P, C)
        a = (
            self.back(torch.relu(self.mlp(tokens.reshape(-1, 4))))
            .reshape(tokens.shape)
            .transpose(1, 2)
            .reshape(a.shape)
        )
        return self.out(torch.relu(self.decoder1(a))).flatten(2).mean(2)


def test_cam_takes_the_classifier_that_consumes_the_pooled_layer_not_the_last_linear():
    x = make_input(3)
    a = numpy_pattern_activations(x[0].numpy())
    model = _WithUnusedLinear()
    res = explain(model, x, "cam", layers="features", target=1, relu=False)
    assert_close(res.raw[0], channel_sum(FC_WEIGHT[1], a))  # the real classifier's weights, not 7s
    named = explain(model, x, "cam", layers="features", target=1, relu=False, fc_layer="fc")
    assert_close(res.raw[0], named.raw[0])
    plain = explain(PatternNet(3, "mean"), x, "cam", layers="features", target=1, relu=False)
    assert_close(plain.raw[0], named.raw[0])  # a normal classifier: the same map as before


def test_cam_refuses_a_layer_whose_size_matches_only_an_mlp_linear():
    from SaliencyExplorerLib.errors import SaliencyError

    x = torch.randn(1, 1, 6, 6, 6)
    model = _TokenMlp()
    with pytest.raises(SaliencyError, match="fc_layer") as caught:
        explain(model, x, "cam", layers="decoder1", target=1)
    assert "\n" not in str(caught.value) and "'mlp'" in str(caught.value)  # named, and not used
    fine = explain(model, x, "gradcam", layers="decoder1", target=1)  # gradcam needs no classifier
    assert np.isfinite(fine.raw).all()


def test_cam_on_swinunetr_decoder1_is_refused_not_weighted_by_a_transformer_mlp():
    nets = pytest.importorskip("monai.networks.nets")
    from SaliencyExplorerLib.errors import SaliencyError

    torch.manual_seed(0)
    model = nets.SwinUNETR(
        in_channels=1, out_channels=2, feature_size=12, spatial_dims=3, depths=(1, 1, 1, 1), norm_name="batch"
    ).eval()  # batch norm in eval: a 32^3 input is enough
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.in_features == 12]
    assert linears  # the trap: transformer MLP layers with 12 inputs exist
    with pytest.raises(SaliencyError, match="fc_layer"):
        explain(model, torch.randn(1, 1, 32, 32, 32), "cam", layers="decoder1", target=1)
