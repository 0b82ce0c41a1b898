"""The sanity verdict reads the whole cascade, inside the model's foreground, where the truth is known."""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.evaluation.sanity import foreground_mask, sanity_check
from torch import nn


@pytest.fixture(scope="module")
def demo():
    """The shipped lesion classifier and the sample CT on the model grid (as explain_image prepares it)."""
    from SaliencyExplorerLib.demo.job import samples_dir
    from SaliencyExplorerLib.models.loading import load_model
    from SaliencyExplorerLib.volumes.image_files import read_image
    from SaliencyExplorerLib.workflow.explain_image import explain_image

    folder = samples_dir()
    loaded = load_model(folder / "lesion_classifier.pt")
    result = explain_image(read_image(folder / "sample_ct.nrrd"), loaded.module, loaded.card, method="gradcam")
    return loaded.module, result.model_input.tensor, list(result.explanation.target), list(result.explanation.layers)


def test_gradcam_on_the_demo_model_depends_on_the_weights(demo):
    model, x, target, layers = demo
    res = sanity_check(model, x, method="gradcam", target=target, layers=layers)
    out = res.to_dict()
    assert not res.flagged and out["flagged"] is False
    assert out["region"] == "foreground" and 0.05 < out["foreground_fraction"] < 0.5
    assert len(out["layers"]) == len(res.layers) == 7 and res.decorrelated_at is not None
    assert all("whole_grid_rank_correlation" in step for step in out["layers"])
    assert "depends on the learned weights" in out["verdict"]


def test_the_image_as_map_and_an_edge_map_are_flagged_on_the_demo_model(demo):
    model, x, target, _ = demo

    def image(m, xx, t):
        return xx[:, 0]

    def edges(m, xx, t):  # a map computed from the image alone: it cannot depend on the weights
        v = xx[:, 0]
        grads = torch.gradient(v, dim=(1, 2, 3))
        return torch.sqrt(sum(g**2 for g in grads))

    for fn in (image, edges):
        res = sanity_check(model, x, explain_fn=fn, target=target)
        assert res.flagged, fn.__name__
        assert res.minimum_correlation > 0.99 and res.decorrelated_at is None


class LastLayerOnly(nn.Module):
    """The decision is the last layer alone; the conv's output is multiplied by zero."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.fc = nn.Linear(16 * 16, 2)

    def forward(self, x):
        ignored = 0.0 * self.conv(x).sum(dim=(1, 2, 3))[:, None]
        return self.fc(x.flatten(1)) + ignored


def test_a_model_that_depends_only_on_its_last_layer_decorrelates_there():
    torch.manual_seed(0)
    model = LastLayerOnly().eval()
    x = torch.rand(1, 1, 16, 16)
    res = sanity_check(model, x, method="saliency", target=1)
    assert res.layers == ["fc", "conv"]
    assert res.decorrelated_at == "fc" and not res.flagged
    # the conv is irrelevant: once fc is random, randomising the conv changes nothing
    assert res.correlations[1] == pytest.approx(res.correlations[0], abs=1e-6)


def test_a_curve_that_falls_then_climbs_back_is_not_flagged():
    """The old rule read only the last step: 0.0 then 0.9 was 'flagged'. A map that decorrelated once
    depends on the weights, whatever the fully random network's map looks like."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), nn.Flatten(), nn.Linear(64, 2))
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(0)
    original = rng.random((1, 8, 8))
    maps = iter([original, rng.random((1, 8, 8)), rng.random((1, 8, 8)), original + 0.01 * rng.random((1, 8, 8))])
    res = sanity_check(model, x, explain_fn=lambda m, xx, t: next(maps), target=0)
    assert res.correlations[-1] > 0.9 and min(res.correlations) < 0.5
    assert not res.flagged and res.decorrelated_at == "3"


def test_correlations_are_read_inside_the_foreground():
    """Two unrelated maps that share a flat zero background look alike over the whole grid, not inside."""
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 5:15, 5:15] = torch.rand(10, 10, generator=torch.Generator().manual_seed(2)) + 0.5
    fg = foreground_mask(x)
    assert fg.sum() == 100
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Flatten(), nn.Linear(400, 2))
    rng = np.random.default_rng(3)

    def body_noise(m, xx, t):
        out = np.zeros((1, 20, 20))
        out[0, 5:15, 5:15] = rng.random((10, 10)) + 1.0
        return out

    res = sanity_check(model, x, explain_fn=body_noise, target=0)
    steps = res.to_dict()["layers"]
    assert all(s["whole_grid_rank_correlation"] > 0.5 for s in steps)  # the shared background
    assert all(abs(s["rank_correlation"]) < 0.35 for s in steps)
    assert not res.flagged and res.region == "foreground"
    whole = sanity_check(model, x, explain_fn=body_noise, target=0, foreground=None)
    assert whole.flagged and whole.region == "whole grid"  # what the whole grid would have concluded
    body = np.zeros((20, 20))
    body[5:15, 5:15] = 1
    assert sanity_check(model, x, explain_fn=body_noise, target=0, foreground=body).region == "mask"
