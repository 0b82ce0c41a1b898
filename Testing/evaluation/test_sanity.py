"""Cascading randomisation: Grad-CAM of a trained CNN must change, a model-blind map must be flagged."""

import io

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import randomisable_layers, sanity_check
from torch import nn


def _data(n, gen):
    x = 0.1 * torch.rand(n, 1, 24, 24, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    for i in range(n):
        r, c = (int(torch.randint(2, 16, (1,), generator=gen)), int(torch.randint(0, 18, (1,), generator=gen)))
        if y[i]:
            x[i, 0, r : r + 5, c : c + 4] += 1.0
    return x, y


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained (~1 s) to say whether a bright box is present; a sample with a box."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        x, y = _data(32, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _data(16, gen)
    sample = x[y == 1][:1]
    assert int(model(sample).argmax()) == 1, "the tiny model failed to learn; the test needs a trained model"
    return model, sample


def _state_bytes(model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def test_layers_are_listed_in_forward_order_and_randomised_from_the_top(trained):
    model, x = trained
    assert randomisable_layers(model, x) == ["0", "2", "6"]
    res = sanity_check(model, x, method="gradcam", relu=False)
    assert res.layers == ["6", "2", "0"]
    chosen = sanity_check(model, x, method="gradcam", layers="2", randomise=["6"], relu=False)
    assert chosen.layers == ["6"]  # `layers` is the CAM layer passed to the engine, `randomise` what changes


def test_gradcam_map_changes_under_randomisation_and_the_model_is_untouched(trained):
    model, x = trained
    before = _state_bytes(model)
    grads = [p.grad for p in model.parameters()]
    res = sanity_check(model, x, method="gradcam", relu=False)
    assert abs(res.final_correlation) < 0.3
    assert not res.flagged
    assert _state_bytes(model) == before
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))
    out = res.to_dict()
    assert [entry["layer"] for entry in out["layers"]] == ["6", "2", "0"]
    assert out["flagged"] is False


def test_a_map_that_ignores_the_model_is_flagged(trained):
    model, x = trained
    calls = []

    def input_itself(m, xx, target):
        calls.append(target)
        return xx[:, 0].numpy()

    res = sanity_check(model, x, explain_fn=input_itself, mode="cascade")
    assert res.correlations == [pytest.approx(1.0)] * 3
    assert res.flagged
    assert len(calls) == 4  # original + one per layer
    assert sanity_check(model, x, explain_fn=input_itself, mode="independent").flagged


def test_independent_mode_and_max_layers(trained):
    model, x = trained
    res = sanity_check(model, x, method="gradcam", relu=False, mode="independent", max_layers=2)
    assert res.layers == ["6", "2"] and len(res.correlations) == 2


def test_bad_sanity_inputs(trained):
    model, x = trained
    with pytest.raises(SaliencyError, match="mode"):
        sanity_check(model, x, mode="sideways")
    with pytest.raises(SaliencyError, match="No layer named 'head'"):
        sanity_check(model, x, randomise=["head"])
    with pytest.raises(SaliencyError, match="shape"):
        sanity_check(model, x, explain_fn=lambda m, xx, t: np.zeros((3, 3)))


class _Bright(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_torchscript_model_is_randomised_in_place_and_restored_bit_for_bit(tmp_path, trained):
    from SaliencyExplorerLib.models.loading import load_model

    _, x = trained
    torch.manual_seed(1)
    torch.jit.trace(_Bright().eval(), x).save(str(tmp_path / "m.ts.pt"))
    model = load_model(tmp_path / "m.ts.pt").module
    root = getattr(model, "script", model)
    before = _state_bytes(root)
    out_before = model(x).detach().clone()
    res = sanity_check(model, x, method="gradcam", layers="conv", relu=False)
    assert res.layers == ["fc", "conv"]
    assert res.correlations[-1] < 0.9  # the map changed once the conv weights were gone
    assert _state_bytes(root) == before
    assert torch.equal(model(x).detach(), out_before)
    calls = []

    def failing(m, xx, target):
        calls.append(1)
        if len(calls) == 2:  # after the first layer was randomised in place
            raise RuntimeError("boom")
        return xx[:, 0].numpy()

    with pytest.raises(RuntimeError, match="boom"):
        sanity_check(model, x, explain_fn=failing)
    assert _state_bytes(root) == before  # restored even on error
