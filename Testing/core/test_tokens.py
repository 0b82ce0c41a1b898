"""Transformer token outputs (N, T, C) put back on their patch grid: the grid inferred from the input's
shape (with or without a class token), tokens landing at their row-major positions, and clear errors.

Truth: token tensors built from a known grid (so every value's position is known), and Grad-CAM on a
small ViT computed by hand (hook, autograd, drop the class token, reshape row-major)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.engine_models import TinyViT
from helpers.numerics import close
from SaliencyExplorerLib import SaliencyError, explain, list_layers
from SaliencyExplorerLib.core.tokens import as_feature_map, infer_grid, is_token_output, tokens_to_grid


def tokens_of(grid_values: torch.Tensor, class_tokens: int = 0) -> torch.Tensor:
    """(N, C, *grid) -> (N, T, C) as a ViT lays them out: class token(s) first, then row-major patches."""
    n, c = grid_values.shape[:2]
    patches = grid_values.flatten(2).transpose(1, 2)
    leading = torch.full((n, class_tokens, c), -1000.0)
    return torch.cat([leading, patches], dim=1)


def test_grid_is_inferred_from_a_common_patch_size_with_and_without_a_class_token():
    # 8 x 12 input, patch 4 -> a 2 x 3 grid: 6 tokens, 7 with a class token (7 itself fits no grid)
    assert infer_grid(6, (8, 12)) == ((2, 3), 0)
    assert infer_grid(7, (8, 12)) == ((2, 3), 1)
    # 3D, 16 x 12 x 24 with patch 4: 4 x 3 x 6 = 72 tokens
    assert infer_grid(72, (16, 12, 24)) == ((4, 3, 6), 0)
    # no common patch, but a square count: the square grid
    assert infer_grid(50, (7, 11)) == ((7, 7), 1)
    # 27..35 tokens (0..8 extra dropped) hold no square and no 7 x 11 grid: unknown
    assert infer_grid(35, (7, 11)) is None


def test_class_token_is_dropped_and_every_value_lands_at_its_grid_position():
    values = torch.arange(2 * 4 * 2 * 3, dtype=torch.float32).reshape(2, 4, 2, 3)  # (N, C, 2, 3)
    tokens = tokens_of(values, class_tokens=1)
    assert tokens.shape == (2, 7, 4)
    out = tokens_to_grid(tokens, (8, 12))
    assert out.shape == (2, 4, 2, 3)
    assert torch.equal(out, values)
    # by hand: the patch at row 1, column 2 is token 1 + (1 * 3 + 2) = 6
    assert torch.equal(out[:, :, 1, 2], tokens[:, 6, :])
    assert float(out.min()) >= 0  # the class token (-1000) is nowhere on the grid


def test_explicit_grid_is_read_row_major_after_the_leading_tokens():
    tokens = tokens_of(torch.arange(6, dtype=torch.float32).reshape(1, 1, 2, 3), class_tokens=2)
    out = tokens_to_grid(tokens, (8, 12), grid=(3, 2))  # the caller's grid, not the inferred one
    assert out[0, 0].tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    with pytest.raises(SaliencyError, match="needs 9 tokens but the layer has 8"):
        tokens_to_grid(tokens, (8, 12), grid=(3, 3))


def test_tokens_that_fit_no_grid_ask_for_one():
    with pytest.raises(SaliencyError, match=r"Cannot arrange 35 tokens.*grid=\(14, 14\)"):
        tokens_to_grid(torch.zeros(1, 35, 4), (7, 11))


def test_token_outputs_are_recognised_and_spatial_outputs_pass_unchanged():
    assert is_token_output((2, 7, 4), 2) and is_token_output((2, 7, 4), 3)
    assert not is_token_output((2, 7, 4), 1)  # a 1D model's (N, C, L) feature map
    assert not is_token_output((2, 4, 8, 8), 2)
    spatial = torch.randn(2, 4, 2, 3)
    assert as_feature_map(spatial, (8, 12)) is spatial
    tokens = tokens_of(spatial, class_tokens=1)
    assert torch.equal(as_feature_map(tokens, (8, 12)), spatial)  # patch 4: a 2 x 3 grid


def test_outputs_without_a_grid_are_refused_with_the_reason():
    with pytest.raises(SaliencyError, match="no spatial extent"):
        as_feature_map(torch.randn(2, 4, 1, 1), (8, 12))  # after global pooling
    with pytest.raises(SaliencyError, match="neither"):
        as_feature_map(torch.randn(2, 4), (8, 12))


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
