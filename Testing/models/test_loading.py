"""Model files: each loading route gives the same network as the eager original, and bad files are refused.

Truth: the eager model the files were saved from (outputs, and Grad-CAM through the engine's hooks).
"""

import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from SaliencyExplorerLib import explain
from SaliencyExplorerLib.demo.network import LesionNet
from SaliencyExplorerLib.errors import CardError, ModelLoadError
from SaliencyExplorerLib.models.loading import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used

ARCH = {"class": "SaliencyExplorerLib.demo.network.LesionNet", "kwargs": {"width": 2}}


def card_dict(**extra):
    card = {"name": "tiny", "spatial_dims": 3, "in_channels": 1, "classes": ["no lesion", "lesion"],
            "input": {"size": [8, 8, 8]}, "target_layer": "features.block3", "architecture": ARCH}
    card.update(extra)
    return card


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LesionNet(width=2).eval()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(2, 1, 8, 8, 8)


def write_card(tmp_path, name="model.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps(card_dict(**extra)))
    return path


def gradcam(model, x):
    return explain(model, x, method="gradcam", layers="features.block3", target=1).raw


def test_state_dict_route_matches_eager_and_reports_sha(tmp_path, net, x):
    torch.save(net.state_dict(), tmp_path / "model.pt")
    write_card(tmp_path)  # found beside the model: model.json next to model.pt
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.kind == "state_dict" and not loaded.module.training
    assert loaded.sha256 == hashlib.sha256((tmp_path / "model.pt").read_bytes()).hexdigest()
    torch.testing.assert_close(loaded.module(x), net(x))


@pytest.mark.parametrize("wrap", ["dataparallel", "lightning", "lightning_model_prefix"])
def test_wrapped_checkpoints_load(tmp_path, net, x, wrap):
    state = net.state_dict()
    if wrap == "dataparallel":
        obj = {f"module.{k}": v for k, v in state.items()}
    elif wrap == "lightning":
        obj = {"epoch": 3, "global_step": 10, "state_dict": state}
    else:
        obj = {"epoch": 3, "state_dict": {f"model.{k}": v for k, v in state.items()}}
    torch.save(obj, tmp_path / "m.ckpt")
    loaded = load_model(tmp_path / "m.ckpt", card_dict())
    torch.testing.assert_close(loaded.module(x), net(x))


def test_architecture_from_file_beside_card(tmp_path, x):
    (tmp_path / "mynet.py").write_text(
        "import torch.nn as nn\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self, k=3):\n"
        "        super().__init__(); self.conv = nn.Conv3d(1, 2, k, padding=k // 2); self.pool = nn.AdaptiveAvgPool3d(1)\n"
        "    def forward(self, x):\n"
        "        return self.pool(self.conv(x)).flatten(1)\n")
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    torch.manual_seed(2)
    exec_ns = {}
    exec((tmp_path / "mynet.py").read_text(), exec_ns)
    ref = exec_ns["MyNet"](k=3).eval()
    torch.save(ref.state_dict(), sub / "w.pth")
    card = write_card(tmp_path, architecture={"class": "mynet.py:MyNet", "kwargs": {"k": 3}},
                      target_layer="conv")
    loaded = load_model(sub / "w.pth", card)
    torch.testing.assert_close(loaded.module(x), ref(x))


@pytest.mark.parametrize("cls", ["collections.OrderedDict", "os.system", "torch.nn.functional.relu"])
def test_non_module_classes_are_refused(tmp_path, net, cls):
    torch.save(net.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ModelLoadError, match="not a torch.nn.Module subclass"):
        load_model(tmp_path / "m.pt", card_dict(architecture={"class": cls}))


def test_missing_and_unexpected_keys_are_named(tmp_path, net):
    state = dict(net.state_dict())
    state.pop("classifier.bias")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path / "m.pt", card_dict())
    assert "missing keys: classifier.bias" in str(err.value)
    assert "unexpected keys: extra.weight" in str(err.value)


def test_state_dict_without_architecture_asks_for_it(tmp_path, net):
    torch.save(net.state_dict(), tmp_path / "m.pt")
    card = card_dict()
    del card["architecture"]
    with pytest.raises(CardError, match="architecture"):
        load_model(tmp_path / "m.pt", card)


def test_pickle_needs_opt_in(tmp_path, net, x):
    torch.save(net, tmp_path / "whole.pt")
    with pytest.raises(ModelLoadError, match="trust_pickle=True"):
        load_model(tmp_path / "whole.pt", card_dict())
    loaded = load_model(tmp_path / "whole.pt", card_dict(), trust_pickle=True)
    assert loaded.kind == "pickle"
    torch.testing.assert_close(loaded.module(x), net(x))


def test_card_mismatch_is_caught_by_one_forward(tmp_path, net):
    torch.save(net.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ModelLoadError, match="in_channels=2"):
        load_model(tmp_path / "m.pt", card_dict(in_channels=2))
    with pytest.raises(ModelLoadError, match="spatial_dims=2"):
        load_model(tmp_path / "m.pt", card_dict(spatial_dims=2, input={"size": [8, 8]}))
    with pytest.raises(ModelLoadError, match="3 classes"):
        load_model(tmp_path / "m.pt", card_dict(classes=["a", "b", "c"]))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.pt", card_dict())


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
    np.testing.assert_allclose(explain(wrapped, x, method="gradcam", layers="body", target=1).raw,
                               explain(net, x, method="gradcam", layers="body", target=1).raw, rtol=1e-5, atol=1e-6)


def test_export_program_cams_match_eager(tmp_path, net, x):
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "m.pt2")
    loaded = load_model(tmp_path / "m.pt2", card_dict())
    assert loaded.kind == "export"
    torch.testing.assert_close(loaded.module(x[:1]), net(x[:1]))
    np.testing.assert_allclose(gradcam(loaded.module, x), gradcam(net, x), rtol=1e-5, atol=1e-6)
    names = {info.name for info in __import__("SaliencyExplorerLib").list_layers(loaded.module, x)}
    assert {"features.block1", "features.block3", "classifier"} <= names


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


def test_trusted_pickle_whose_class_is_gone_is_a_clear_error(tmp_path):
    """Unpickling a whole model needs its class importable; a missing one must name the fix, not raise raw."""
    import sys
    import types

    gone = types.ModuleType("saliency_gone_arch")
    exec("from torch import nn\nclass Gone(nn.Module):\n    def forward(self, x):\n        return x\n",
         gone.__dict__)
    gone.Gone.__module__ = "saliency_gone_arch"
    sys.modules["saliency_gone_arch"] = gone
    try:
        torch.save(gone.Gone(), tmp_path / "whole.pt")
    finally:
        del sys.modules["saliency_gone_arch"]
    with pytest.raises(ModelLoadError, match="saliency_gone_arch"):
        load_model(tmp_path / "whole.pt", trust_pickle=True)
