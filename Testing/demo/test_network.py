"""The demo's lesion classifier: (N, C, D, H, W) -> class logits, with ``features.block3`` the last block
on a spatial grid (input / 2), the CAM layer its card names; the shipped weights fit it exactly.

Truth: shapes and parameter counts worked out by hand, the shipped state dict and card.
"""

import json

import pytest
import torch
from helpers.paths import SAMPLES
from SaliencyExplorerLib import list_layers
from SaliencyExplorerLib.demo.network import ConvBlock, LesionNet
from torch import nn


def test_shapes_and_the_default_cam_layer():
    net = LesionNet(in_channels=2, num_classes=3, width=4).eval()
    x = torch.zeros(2, 2, 12, 16, 20)
    assert net(x).shape == (2, 3)
    infos = {info.name: info for info in list_layers(net, x[:1])}
    assert infos["features.block3"].output_shape == (1, 8, 6, 8, 10)  # 2 * width channels on input / 2
    # the engine's default is the last spatial layer to finish: the `features` container, whose output
    # is block3's; the card names block3 itself
    assert [name for name, info in infos.items() if info.is_default] == ["features"]
    assert infos["features"].output_shape == infos["features.block3"].output_shape
    assert infos["pool"].output_shape == (1, 8, 1, 1, 1) and not infos["pool"].cam_capable


def test_parameter_count_by_hand():
    # width 8: convs 1*8*27 + 8*16*27 + 16*16*27 (no bias), batch norms 2*(8 + 16 + 16), linear 16*2 + 2
    assert sum(p.numel() for p in LesionNet().parameters()) == 216 + 3456 + 6912 + 80 + 34
    block = ConvBlock(3, 5, pool=True)
    assert [type(m) for m in block] == [nn.Conv3d, nn.BatchNorm3d, nn.ReLU, nn.MaxPool3d] and block[2].inplace


@pytest.mark.skipif(not (SAMPLES / "lesion_classifier.pt").exists(), reason="demo files made by scripts/make_demo.py")
def test_the_shipped_weights_fit_the_class_the_card_names():
    card = json.loads((SAMPLES / "lesion_classifier.json").read_text())
    assert card["architecture"]["class"] == "SaliencyExplorerLib.demo.network.LesionNet"
    assert card["target_layer"] == "features.block3"
    net = LesionNet(**card["architecture"]["kwargs"])
    state = torch.load(SAMPLES / "lesion_classifier.pt", map_location="cpu", weights_only=True)
    assert net.load_state_dict(state, strict=True).missing_keys == []
