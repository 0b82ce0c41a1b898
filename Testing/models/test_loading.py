"""Model files: each loading route gives the same network as the eager original, and bad files are refused.

Truth: the eager model the files were saved from (outputs, and Grad-CAM through the engine's hooks).
The network named by a card: ``test_architectures.py``; TorchScript and torch.export files made
hookable: ``test_torchscript.py``, ``test_exported.py``. Fixtures ``net`` and ``x``: ``conftest.py``.
"""

import hashlib
import zipfile

import pytest
import torch
from helpers.model_files import card_dict, write_card
from SaliencyExplorerLib.errors import CardError, ModelLoadError
from SaliencyExplorerLib.models.file_safety import inspect_file
from SaliencyExplorerLib.models.loading import extract_state_dict, load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used


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
    with pytest.raises(ModelLoadError, match="trust_code=True"):
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


def test_trusted_pickle_whose_class_is_gone_is_a_clear_error(tmp_path):
    """Unpickling a whole model needs its class importable; a missing one must name the fix, not raise raw."""
    import sys
    import types

    gone = types.ModuleType("saliency_gone_arch")
    exec("from torch import nn\nclass Gone(nn.Module):\n    def forward(self, x):\n        return x\n", gone.__dict__)
    gone.Gone.__module__ = "saliency_gone_arch"
    sys.modules["saliency_gone_arch"] = gone
    try:
        torch.save(gone.Gone(), tmp_path / "whole.pt")
    finally:
        del sys.modules["saliency_gone_arch"]
    with pytest.raises(ModelLoadError, match="saliency_gone_arch"):
        load_model(tmp_path / "whole.pt", trust_pickle=True)


def test_file_kinds_are_told_apart_by_their_content(tmp_path, net, x):
    torch.save(net.state_dict(), tmp_path / "weights.pt2")  # a misleading suffix: the content decides
    torch.jit.save(torch.jit.trace(net, x), tmp_path / "model.pth")
    torch.export.save(torch.export.export(net, (x,)), tmp_path / "program.bin")
    assert inspect_file(tmp_path / "weights.pt2").kind == "state_dict"  # routing is by content since issue 9
    assert inspect_file(tmp_path / "model.pth").kind == "torchscript"
    assert inspect_file(tmp_path / "program.bin").kind == "export"
    (tmp_path / "broken.pt2").write_bytes(b"not a zip")
    # a damaged file is named as such, whatever its suffix (it used to be routed to the export loader by name)
    assert (
        not zipfile.is_zipfile(tmp_path / "broken.pt2") and inspect_file(tmp_path / "broken.pt2").kind == "not_a_model"
    )


def test_state_dict_is_found_inside_checkpoints():
    weights = {"a.weight": torch.zeros(1)}
    assert extract_state_dict(weights, "m.pt") is weights
    assert extract_state_dict({"epoch": 1, "model_state_dict": weights}, "m.pt") is weights
    assert extract_state_dict({"optimizer": {}, "net": weights}, "m.pt") is weights
    with pytest.raises(ModelLoadError, match="holds no state dict"):
        extract_state_dict({"epoch": 1, "weights": [1, 2]}, "m.pt")


def test_a_state_dict_without_a_card_names_where_it_looked_and_the_fix(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CardError) as info:
        load_model(path)
    message = str(info.value)
    assert "no model card was found beside it" in message
    assert str(tmp_path / "weights.json") in message
    assert "--card" in message


def test_windowed_card_probes_one_window_not_the_whole_grid(tmp_path):
    """A UNETR takes only img_size^3: with windows of that size over a larger explicit grid the card is right
    (the check probes one window); a card whose windows the model refuses names inference.roi_size."""
    import json

    import pytest
    import torch

    nets = pytest.importorskip("monai.networks.nets")
    from SaliencyExplorerLib.errors import ModelLoadError
    from SaliencyExplorerLib.models.loading import load_model

    kwargs = {
        "in_channels": 1,
        "out_channels": 2,
        "img_size": 16,
        "feature_size": 4,
        "hidden_size": 48,
        "mlp_dim": 96,
        "num_heads": 4,
        "spatial_dims": 3,
    }
    torch.manual_seed(0)
    torch.save(nets.UNETR(**kwargs).state_dict(), tmp_path / "unetr.pt")

    def card(roi):
        return {
            "spatial_dims": 3,
            "in_channels": 1,
            "classes": ["bg", "fg"],
            "input": {"size": [32, 32, 32]},
            "architecture": {"class": "monai.networks.nets.UNETR", "kwargs": kwargs},
            "inference": {"mode": "sliding_window", "roi_size": [roi] * 3, "overlap": 0.25},
        }

    (tmp_path / "good.json").write_text(json.dumps(card(16)))
    loaded = load_model(tmp_path / "unetr.pt", tmp_path / "good.json")
    assert loaded.card.input.size == (32, 32, 32)
    (tmp_path / "bad.json").write_text(json.dumps(card(32)))
    with pytest.raises(ModelLoadError, match=r"shape \(1, 1, 32, 32, 32\).*inference.roi_size") as caught:
        load_model(tmp_path / "unetr.pt", tmp_path / "bad.json")
    assert "\n" not in str(caught.value)
