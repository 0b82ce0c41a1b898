"""The network a state dict belongs to, built from the card's ``architecture``: an installed class by
dotted path or ``file.py:Class`` beside the card; anything that is not an nn.Module subclass is refused.

Truth: the eager model the weights came from gives the same outputs; refusals name the field to fix.
"""

import pytest
import torch
from helpers.model_files import card_dict, write_card
from SaliencyExplorerLib.errors import CardError, ModelLoadError
from SaliencyExplorerLib.models.architectures import build_network, resolve_class
from SaliencyExplorerLib.models.loading import load_model
from torch import nn


def test_architecture_from_file_beside_card(tmp_path, x):
    (tmp_path / "mynet.py").write_text(
        "import torch.nn as nn\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self, k=3):\n"
        "        super().__init__(); self.conv = nn.Conv3d(1, 2, k, padding=k // 2); self.pool = nn.AdaptiveAvgPool3d(1)\n"
        "    def forward(self, x):\n"
        "        return self.pool(self.conv(x)).flatten(1)\n"
    )
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    torch.manual_seed(2)
    exec_ns = {}
    exec((tmp_path / "mynet.py").read_text(), exec_ns)
    ref = exec_ns["MyNet"](k=3).eval()
    torch.save(ref.state_dict(), sub / "w.pth")
    card = write_card(tmp_path, architecture={"class": "mynet.py:MyNet", "kwargs": {"k": 3}}, target_layer="conv")
    loaded = load_model(sub / "w.pth", card, trust_code=True)  # a file.py is code: needs the opt-in
    torch.testing.assert_close(loaded.module(x), ref(x))


@pytest.mark.parametrize("cls", ["collections.OrderedDict", "os.system", "torch.nn.functional.relu"])
def test_non_module_classes_are_refused(tmp_path, net, cls):
    torch.save(net.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ModelLoadError, match="trust_code=True"):  # outside the allow-list: not even imported
        load_model(tmp_path / "m.pt", card_dict(architecture={"class": cls}))
    with pytest.raises(ModelLoadError, match="not a torch.nn.Module subclass"):
        load_model(tmp_path / "m.pt", card_dict(architecture={"class": cls}), trust_code=True)


def test_dotted_classes_and_kwargs_build_the_network():
    net = build_network(
        {"class": "torch.nn.Conv3d", "kwargs": {"in_channels": 1, "out_channels": 4, "kernel_size": 3}},
        None,
        trust_code=True,
    )
    assert isinstance(net, nn.Conv3d) and net.weight.shape == (4, 1, 3, 3, 3)
    assert resolve_class(" SaliencyExplorerLib.demo.network.LesionNet ", None).__name__ == "LesionNet"


@pytest.mark.parametrize(
    "architecture,error,needle",
    [
        ({"class": ""}, CardError, "non-empty string"),
        ({"class": "LesionNet"}, CardError, "needs a module path"),
        ({"class": "no_such_package_xyz.Net"}, ModelLoadError, 'Cannot import "no_such_package_xyz"'),
        ({"class": "torch.nn.NoSuchLayer"}, ModelLoadError, 'has no class "NoSuchLayer"'),
        ({"class": "missing.py:Net"}, ModelLoadError, "not a .py file next to the card"),
        ({"class": "torch.nn.Linear", "kwargs": {"bogus": 1}}, ModelLoadError, "Fix architecture.kwargs"),
        ({"class": "torch.nn.Linear", "kwargs": [1, 2]}, CardError, "kwargs must be an object"),
        ({"kwargs": {}}, CardError, '"architecture": {"class"'),
    ],
)
def test_bad_architectures_name_the_fix(tmp_path, architecture, error, needle):
    """Once the user trusts the card's code (outside the allow-list nothing is imported without it)."""
    with pytest.raises(error, match=needle.replace("(", r"\(").replace("{", r"\{")):
        build_network(architecture, tmp_path, trust_code=True)


def test_a_file_that_fails_or_lacks_the_class_is_reported(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('bad import')\n")
    with pytest.raises(ModelLoadError, match="bad import"):
        resolve_class("broken.py:Net", tmp_path, trust_code=True)
    (tmp_path / "empty.py").write_text("X = 1\n")
    with pytest.raises(ModelLoadError, match='defines no "Net"'):
        resolve_class("empty.py:Net", tmp_path, trust_code=True)
