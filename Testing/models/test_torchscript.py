"""TorchScript files made hookable: the graph cut at each layer's output and routed through a Tap.

Truth: the eager model the file was scripted or traced from: outputs, input gradients (also through a
skip connection around the tapped layer) and Grad-CAM maps must be the same.
"""

import numpy as np
import pytest
import torch
from helpers.model_files import card_dict, gradcam
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.loading import load_model
from SaliencyExplorerLib.models.taps import Tap
from SaliencyExplorerLib.models.torchscript import TorchScriptTapModel, hooks_refused, layer_paths
from torch import nn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_refuses_hooks_but_cams_match_eager(tmp_path, net, x, how):
    compiled = torch.jit.script(net) if how == "script" else torch.jit.trace(net, x)
    torch.jit.save(compiled, tmp_path / "ts.pt")
    raw = torch.jit.load(tmp_path / "ts.pt")
    with pytest.raises(Exception, match="not supported on ScriptModules"):
        raw.register_forward_hook(lambda *a: None)
    loaded = load_model(tmp_path / "ts.pt", card_dict())
    assert loaded.kind == "torchscript"
    torch.testing.assert_close(loaded.module(x), net(x))
    np.testing.assert_allclose(gradcam(loaded.module, x), gradcam(net, x), rtol=1e-5, atol=1e-6)
    # perturbation-style replacement of the layer output must reach the model output
    handle = loaded.module.features.block3.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    try:
        zeroed = loaded.module(x)
    finally:
        handle.remove()
    torch.testing.assert_close(zeroed, net.classifier(torch.zeros(2, 4)))


class Residual(nn.Module):
    """A skip connection around the tapped layer: gradients must flow through both paths."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv3d(1, 3, 3, padding=1)
        self.body = nn.Sequential(nn.Conv3d(3, 3, 3, padding=1), nn.Tanh())
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        s = self.stem(x)
        return self.head((s + self.body(s)).mean(dim=(2, 3, 4)))


def test_torchscript_skip_connection_gradients_match(tmp_path, x):
    torch.manual_seed(3)
    net = Residual().eval()
    torch.jit.save(torch.jit.script(net), tmp_path / "res.pt")
    wrapped = load_model(tmp_path / "res.pt").module
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    wrapped(xa)[:, 1].sum().backward()
    net(xb)[:, 1].sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    np.testing.assert_allclose(
        explain(wrapped, x, method="gradcam", layers="body", target=1).raw,
        explain(net, x, method="gradcam", layers="body", target=1).raw,
        rtol=1e-5,
        atol=1e-6,
    )


class Branchy(nn.Module):
    """The layer runs inside an `if`: its output is not a top-level value of forward, so it cannot be cut."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 2, 3, padding=1)
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        if x.shape[0] > 0:
            y = self.conv(x)
        else:
            y = x.repeat(1, 2, 1, 1, 1)
        return self.head(y.mean(dim=(2, 3, 4)))


def test_torchscript_layer_inside_control_flow_names_the_working_routes(tmp_path, x):
    torch.manual_seed(4)
    net = Branchy().eval()
    torch.jit.save(torch.jit.script(net), tmp_path / "branchy.pt")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "branchy.pt", layers=["conv"])
    assert "state dict" in str(err.value) and ".pt2" in str(err.value)
    loaded = load_model(tmp_path / "branchy.pt")  # every top-level layer is still tapped; gradients work
    torch.testing.assert_close(loaded.module(x), net(x))
    grad = explain(loaded.module, x, method="saliency", target=1).raw
    assert np.isfinite(grad).all() and grad.max() > 0


def test_layers_found_in_the_graph_carry_their_types(net, x):
    script = torch.jit.script(net)
    paths = layer_paths(script)
    assert paths["features"] == "Sequential" and paths["features.block3"] == "ConvBlock"
    assert paths["features.block3.0"] == "Conv3d" and paths["classifier"] == "Linear"
    assert hooks_refused(script) and not hooks_refused(net)


def test_only_the_requested_layers_are_tapped_and_the_weights_stay_shared(net, x):
    script = torch.jit.script(net)
    wrapped = TorchScriptTapModel(script, ["features.block1", "features.block3"])
    taps = {name: m for name, m in wrapped.named_modules() if isinstance(m, Tap)}
    assert wrapped.tap_names == [["features.block1"], ["features.block3"]]  # in graph order
    assert {"features.block1", "features.block3"} <= set(taps) and "features.block2" not in taps
    assert type(taps["features.block3"]).__name__ == "ConvBlock"  # the layer table still reads the type
    torch.testing.assert_close(wrapped(x), net(x))
    assert dict(wrapped.named_parameters()).keys() == dict(net.named_parameters()).keys()
    wrapped.train()
    assert script.training
    wrapped.eval()
    assert not script.training
    with pytest.raises(ModelLoadError, match="no layer 'features.block9'"):
        TorchScriptTapModel(script, ["features.block9"])
