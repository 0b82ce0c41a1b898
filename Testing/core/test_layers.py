"""Target layers: DataParallel prefixes, several layers, mistyped names, the proposed default layer,
and transformer token outputs put back on their (non-square, 2D or 3D) patch grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.engine_models import SmallCNN, TinyResNet, TinyViT
from SaliencyExplorerLib import SaliencyError, explain, list_layers


def close(a, b, tol=1e-5):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(float(np.abs(b).max()), 1e-12))


def minmax(a):
    return (a - a.min()) / (a.max() - a.min())


@pytest.fixture(scope="module")
def cnn():
    return SmallCNN(dims=2, channels=5, classes=3, seed=7).eval(), torch.randn(2, 1, 14, 18)


def test_dataparallel_prefix_accepted_both_ways(cnn):
    model, x = cnn
    reference = explain(model, x, "gradcam", layers="features.3", target=[0, 2])
    prefixed = explain(model, x, "gradcam", layers="module.features.3", target=[0, 2])
    close(prefixed.raw, reference.raw)
    wrapped = nn.DataParallel(model)  # on CPU it simply calls the module
    plain_name = explain(wrapped, x, "gradcam", layers="features.3", target=[0, 2])
    full_name = explain(wrapped, x, "gradcam", layers="module.features.3", target=[0, 2])
    close(plain_name.raw, reference.raw)
    close(full_name.raw, reference.raw)


def test_several_layers_average_their_normalised_maps(cnn):
    """Truth from single-layer runs: each layer's rectified, upsampled map scaled to [0, 1], averaged."""
    model, x = cnn
    names = ["features.1", "features.4"]
    both = explain(model, x, "gradcam", layers=names, target=[1, 1])
    assert both.layers == names
    singles = [explain(model, x, "gradcam", layers=n, target=[1, 1]).raw for n in names]
    expected = np.stack([np.mean([minmax(s[i]) for s in singles], 0) for i in range(2)])
    close(both.raw, expected)
    assert not np.allclose(minmax(singles[0][0]), minmax(singles[1][0]), atol=1e-2)


def test_mistyped_layer_names_the_closest_layers(cnn):
    model, x = cnn
    with pytest.raises(SaliencyError) as info:
        explain(model, x, "gradcam", layers="featres.3")
    message = str(info.value)
    assert "featres.3" in message and "features.3" in message and "list_layers" in message


def test_list_layers_default_on_monai_densenet121():
    nets = pytest.importorskip("monai.networks.nets")
    model = nets.DenseNet121(spatial_dims=2, in_channels=1, out_channels=2).eval()
    infos = list_layers(model, torch.zeros(1, 1, 64, 64))
    by_name = {info.name: info for info in infos}
    defaults = [info.name for info in infos if info.is_default]
    assert defaults == ["class_layers.relu"]
    assert by_name["class_layers.relu"].output_shape == (1, 1024, 2, 2)
    assert by_name["class_layers.relu"].cam_capable
    assert not by_name["class_layers.pool"].cam_capable and not by_name["class_layers.out"].cam_capable
    assert by_name["class_layers.out"].output_shape == (1, 2) and by_name["class_layers.out"].type == "Linear"
    assert explain(model, torch.randn(1, 1, 64, 64), "gradcam").layers == ["class_layers.relu"]


def test_list_layers_default_on_a_torch_only_resnet():
    model = TinyResNet().eval()
    infos = list_layers(model, torch.zeros(1, 1, 16, 24))
    by_name = {info.name: info for info in infos}
    default = [info for info in infos if info.is_default]
    assert len(default) == 1
    # the last layer with spatial output, before the global pooling: layer2 (= its last block)
    assert default[0].name in ("layer2", "layer2.1")
    assert default[0].output_shape == (1, 8, 8, 12)
    assert by_name["avgpool"].output_shape == (1, 8, 1, 1) and not by_name["avgpool"].cam_capable
    assert by_name["conv1"].cam_capable and by_name["conv1"].type == "Conv2d"
    assert len(by_name) == len([n for n, _ in model.named_modules() if n])


def manual_token_gradcam(model, x, layer, klass, grid, extra):
    """Grad-CAM on a token layer computed by hand: hook, autograd, drop extra tokens, row-major grid."""
    store = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: store.update(t=o))
    try:
        with torch.enable_grad():
            out = model(x)
            grad = torch.autograd.grad(out[:, klass].sum(), store["t"])[0]
    finally:
        handle.remove()
    tokens, grad = store["t"].detach()[:, extra:], grad[:, extra:]
    weights = grad.mean(1)  # (N, C): the spatial mean of the gradient over the grid's tokens
    cam = torch.relu((tokens * weights[:, None]).sum(2)).reshape(x.shape[0], *grid)
    mode = {2: "bilinear", 3: "trilinear"}[len(grid)]
    return F.interpolate(cam[:, None], size=x.shape[2:], mode=mode, align_corners=False)[:, 0].numpy()


VIT_CASES = [
    # dims, input shape, class token, grid
    (2, (32, 32), True, (8, 8)),
    (2, (24, 40), True, (6, 10)),
    (3, (16, 16, 16), True, (4, 4, 4)),
    (3, (16, 12, 24), False, (4, 3, 6)),
]


@pytest.mark.parametrize("dims,shape,cls_token,grid", VIT_CASES)
def test_transformer_tokens_are_put_back_on_their_grid(dims, shape, cls_token, grid):
    model = TinyViT(dims=dims, patch=4, cls_token=cls_token, seed=dims).eval()
    x = torch.randn(2, 1, *shape, generator=torch.Generator().manual_seed(9))
    infos = {info.name: info for info in list_layers(model, x[:1])}
    assert infos["blocks.1"].cam_capable
    res = explain(model, x, "gradcam", layers="blocks.1", target=[0, 2])
    truth = manual_token_gradcam(model, x, "blocks.1", 0, grid, int(cls_token))
    close(res.raw[0], truth[0], tol=1e-4)
    explicit = explain(model, x, "gradcam", layers="blocks.1", target=[0, 2], grid=grid)
    close(explicit.raw, res.raw)
    assert res.heatmap.shape == (2, *shape)


def test_explicit_grid_that_does_not_fit_is_refused():
    model = TinyViT(dims=2, patch=4, cls_token=True).eval()
    with pytest.raises(SaliencyError, match="grid"):
        explain(model, torch.randn(1, 1, 32, 32), "gradcam", layers="blocks.1", grid=(9, 9))
