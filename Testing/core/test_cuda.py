"""The CUDA paths, where a GPU exists (skipped elsewhere): every method on the model's own CUDA device gives
the CPU's map, batches are sized from free GPU memory, hooks are released and the model is left as it was;
sliding windows blend on the GPU as on the CPU; a device check and an out-of-memory error say what to do.

Truth: the same explanation computed on the CPU (float32 reductions differ in order only)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers.engine_models import SmallCNN, hooks_left, model_snapshot
from SaliencyExplorerLib import available_methods, explain
from SaliencyExplorerLib.core import resources

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FAST = {
    "occlusion": {"window": [4, 4, 4], "stride": [2, 2, 2]},
    "rise": {"masks": 64},
    "smoothgrad": {"samples": 4},
    "integrated-gradients": {"steps": 8},
}
# SmoothGrad's noise comes from a generator on the model's device: same seed, other numbers there.
# (RISE draws its coarse masks on the CPU, so its map is the same on every device.)
RANDOM = {"smoothgrad"}


@pytest.fixture(autouse=True)
def full_float32():
    """Compare in full float32: cuDNN convolutions use TF32 by default on Ampere and later (about 1e-3
    relative error), which the next test measures separately."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@pytest.fixture(scope="module")
def pair():
    model = SmallCNN(dims=3, channels=4, seed=5).eval()
    x = torch.randn(2, 1, 8, 10, 12, generator=torch.Generator().manual_seed(4))
    return model, x


@pytest.mark.parametrize("method", available_methods())
def test_every_method_on_the_gpu_matches_the_cpu_and_leaves_the_model(pair, method):
    model, x = pair
    options = dict(FAST.get(method, {}))
    layers = "features" if method not in ("cam",) else None
    kwargs = dict(layers=layers, target=[0, 1], **options) if layers else dict(target=[0, 1], **options)
    on_cpu = explain(model, x, method, **kwargs)
    gpu_model = copy.deepcopy(model).cuda()
    before = model_snapshot(gpu_model)
    on_gpu = explain(gpu_model, x.cuda(), method, **kwargs)
    assert on_gpu.heatmap.shape == on_cpu.heatmap.shape and np.isfinite(on_gpu.raw).all()
    assert hooks_left(gpu_model) == [] and model_snapshot(gpu_model) == before
    assert next(gpu_model.parameters()).is_cuda
    if method in RANDOM:
        r = np.corrcoef(on_gpu.heatmap.ravel(), on_cpu.heatmap.ravel())[0, 1]
        assert r > 0.5, r  # same estimator, other random draws
    else:
        scale = float(np.abs(on_cpu.raw).max()) or 1.0
        np.testing.assert_allclose(on_gpu.raw, on_cpu.raw, rtol=0, atol=2e-4 * scale)


def test_with_torchs_default_tf32_maps_agree_to_a_percent(pair):
    """What a user sees by default on a recent GPU: TF32 convolutions, maps within 1% of the CPU's."""
    model, x = pair
    torch.backends.cudnn.allow_tf32 = True
    on_cpu = explain(model, x, "gradcam", layers="features", target=[0, 1])
    on_gpu = explain(copy.deepcopy(model).cuda(), x.cuda(), "gradcam", layers="features", target=[0, 1])
    np.testing.assert_allclose(on_gpu.heatmap, on_cpu.heatmap, rtol=0, atol=1e-2)


def test_sliding_windows_blend_on_the_gpu_as_on_the_cpu():
    from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(3, 2, 1)).eval()
    x = torch.randn(1, 1, 30, 26, 20)
    spec = SlidingWindow((16, 16, 16), overlap=0.5, blend="gaussian", sw_batch_size=3)
    with torch.no_grad():
        cpu = WindowPlan(spec, x.shape[2:]).infer(net, x)
        gpu = WindowPlan(spec, x.shape[2:], device="cuda").infer(copy.deepcopy(net).cuda(), x.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


def test_device_check_and_out_of_memory_message():
    assert resources.check_device("cuda") == "cuda" and "cuda" in resources.available_devices()
    free, total = torch.cuda.mem_get_info()
    with pytest.raises(torch.cuda.OutOfMemoryError) as info:
        torch.empty(int(total * 4), dtype=torch.uint8, device="cuda")
    assert resources.is_out_of_memory(info.value)
    assert "--batch-size" in str(resources.out_of_memory_error(info.value))
