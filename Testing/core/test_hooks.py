"""Hook discipline: nothing the user had is changed. After many calls and after calls that raise, no
hook is left and the model's state bytes, training flags, requires_grad flags and .grad are as before;
grad modes are honoured; in-place ReLUs after the layer do not corrupt the map; gradients stop at the
target layer."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from helpers.engine_models import RaisingModel, SmallCNN, TupleLayerNet, hooks_left, model_snapshot
from SaliencyExplorerLib import ExplanationCancelled, SaliencyError, available_methods, explain, list_layers
from torch import nn


class NormNet(nn.Module):
    """Batch norm and dropout: in training mode a careless engine would update statistics or drop units."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.features[1].running_mean.uniform_(-0.2, 0.2)
            self.features[1].running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        return self.fc(self.features(x).flatten(2).mean(2))


def test_200_calls_leave_no_hooks_and_the_model_untouched():
    model = NormNet().train()
    for p in model.fc.parameters():
        p.grad = torch.full_like(p, 0.25)  # a user's accumulated gradient must survive
    before = model_snapshot(model)
    x = torch.randn(2, 1, 10, 12, generator=torch.Generator().manual_seed(0))
    reference = explain(copy.deepcopy(model).eval(), x, "gradcam", layers="features")
    variants = itertools.cycle(
        [dict(method=m) for m in available_methods("cam")]
        + [
            dict(method="gradcam", aug_smooth=True),
            dict(method="gradcam++", eigen_smooth=True),
            dict(method="layercam", layers=["features.2", "features"]),
        ]
    )
    for _, options in zip(range(200), variants):
        options = dict(options)
        res = explain(model, x, options.pop("method"), **{"layers": "features", **options})
        assert np.isfinite(res.raw).all()
    list_layers(model, x)
    assert hooks_left(model) == []
    assert model_snapshot(model) == before
    assert model.training  # still in training mode, yet explained in eval mode:
    again = explain(model, x, "gradcam", layers="features")
    np.testing.assert_array_equal(again.raw, reference.raw)


def _cancel_after_first_batch():
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 1

    return cancel


FAILING_CALLS = [
    ("bad layer", lambda: SmallCNN(), dict(layers="features.9"), "no layer named"),
    ("bad target", lambda: SmallCNN(), dict(target=7), "out of range"),
    ("model raises", lambda: RaisingModel(), dict(layers="features"), "deliberate failure"),
    ("missing layer element", lambda: TupleLayerNet(SmallCNN()), dict(layers="block", layer_output=5), "no element 5"),
    ("bad callable target", lambda: SmallCNN(), dict(target=lambda out: out.sum()), "one score per sample"),
    ("unknown option", lambda: SmallCNN(), dict(windw=3), "windw"),
    ("non-spatial layer", lambda: SmallCNN(), dict(layers="fc"), "spatial"),
]


@pytest.mark.parametrize("label,factory,kwargs,message", FAILING_CALLS, ids=[c[0] for c in FAILING_CALLS])
def test_calls_that_raise_leave_no_hooks_and_the_model_untouched(label, factory, kwargs, message):
    model = factory().train()
    before = model_snapshot(model)
    x = torch.randn(2, 1, 12, 12)
    for method in ("gradcam", "scorecam"):
        with pytest.raises(SaliencyError, match=message):
            explain(model, x, method, **kwargs)
        assert hooks_left(model) == [], (label, method)
        assert model_snapshot(model) == before, (label, method)


def test_cancelled_scorecam_leaves_no_hooks():
    model = SmallCNN(channels=6)
    before = model_snapshot(model)
    with pytest.raises(ExplanationCancelled):
        explain(
            model,
            torch.randn(1, 1, 12, 12),
            "scorecam",
            layers="features",
            batch_size=2,
            cancel=_cancel_after_first_batch(),
        )
    assert hooks_left(model) == [] and model_snapshot(model) == before


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_works_inside_no_grad_and_inference_mode(mode):
    model = SmallCNN(dims=3, channels=4).eval()
    x = torch.randn(1, 1, 6, 8, 10, generator=torch.Generator().manual_seed(1))
    normal = explain(model, x, "gradcam++", layers="features", target=1)
    context = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    with context:
        inside = explain(model, x, "gradcam++", layers="features", target=1)
        made_inside = explain(model, x.clone(), "gradcam++", layers="features", target=1)
        assert not torch.is_grad_enabled()  # the caller's mode is back
    np.testing.assert_allclose(inside.raw, normal.raw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(made_inside.raw, normal.raw, rtol=0, atol=1e-6)
    assert normal.raw.max() > 0


@pytest.mark.parametrize("layer", ["features.0", "features.3"])
def test_inplace_relu_after_the_layer_gives_the_same_maps(layer):
    plain = SmallCNN(channels=5, inplace=False, seed=8).eval()
    inplace = SmallCNN(channels=5, inplace=True, seed=8).eval()
    x = torch.randn(2, 1, 12, 14, generator=torch.Generator().manual_seed(2))
    for method in ("gradcam", "gradcam++", "hirescam", "layercam", "ablationcam"):
        a = explain(plain, x, method, layers=layer, target=[0, 2])
        b = explain(inplace, x, method, layers=layer, target=[0, 2])
        np.testing.assert_allclose(b.raw, a.raw, rtol=0, atol=1e-6 * max(float(a.raw.max()), 1e-9))
        assert a.raw.max() > 0, method


class GradientSpy(torch.autograd.Function):
    """Identity whose backward records that a gradient passed through it."""

    reached = []

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        GradientSpy.reached.append(True)
        return grad


class SpyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(1, 3, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.body(GradientSpy.apply(self.stem(x))).flatten(2).mean(2))


def test_gradients_stop_at_the_target_layer_and_parameters_get_none():
    model = SpyNet()
    x = torch.randn(1, 1, 10, 10)
    GradientSpy.reached.clear()
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "eigengradcam"):
        explain(model, x, method, layers="body")
    assert GradientSpy.reached == []  # the spy lies before `body`: nothing flowed back past the layer
    assert all(p.grad is None for p in model.parameters())
    explain(model, x, "gradcam", layers="stem")  # control: now the spy lies on the path to the layer
    assert GradientSpy.reached == [True]
    assert all(p.grad is None for p in model.parameters())


def test_frozen_model_works_and_stays_frozen():
    model = SmallCNN(channels=4, seed=3).eval()
    x = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    reference = explain(model, x, "gradcam", layers="features.3", target=[1, 0])
    frozen = copy.deepcopy(model).requires_grad_(False)
    res = explain(frozen, x, "gradcam", layers="features.3", target=[1, 0])
    np.testing.assert_allclose(res.raw, reference.raw, rtol=0, atol=1e-6)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert all(p.grad is None for p in frozen.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_models_cuda_device_and_matches_cpu():
    model = SmallCNN(dims=3, channels=4, seed=5).eval()
    x = torch.randn(2, 1, 6, 8, 10, generator=torch.Generator().manual_seed(4))
    on_cpu = explain(model, x, "gradcam++", layers="features", target=[0, 1])
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # full float32, as on the CPU (TF32: see core/test_cuda.py)
    try:
        on_gpu = explain(copy.deepcopy(model).cuda(), x, "gradcam++", layers="features", target=[0, 1])
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    np.testing.assert_allclose(on_gpu.raw, on_cpu.raw, rtol=0, atol=1e-4 * float(on_cpu.raw.max()))
