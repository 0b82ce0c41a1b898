"""Default target layers on MONAI's 3D zoo (random weights, small sizes): no layer that misleads.

Segmentation nets: the last stage before the output head (not the logits, which repeat the prediction);
class-token ViT: the last block's first norm (after it only the class token reaches the head);
SwinUNETR's window-partitioned attention outputs are not CAM-capable and are refused; EfficientNet's
`_swish`, one module called twice per forward, is never proposed and refused by Ablation-CAM."""

import pytest
import torch
from SaliencyExplorerLib import SaliencyError, explain, list_layers

nets = pytest.importorskip("monai.networks.nets")

SEGMENTATION = {
    "UNet": (lambda: nets.UNet(3, 1, 2, (8, 16, 32), (2, 2), num_res_units=1), 32, "model.1", "model.2"),
    "BasicUNet": (lambda: nets.BasicUNet(3, 1, 2, features=(4, 4, 8, 8, 16, 4)), 32, "upcat_1", "final_conv"),
    "SegResNet": (lambda: nets.SegResNet(3, 8, 1, 2), 32, "up_layers.2", "conv_final"),
    "DynUNet": (
        lambda: nets.DynUNet(3, 1, 2, [3, 3, 3], [1, 2, 2], [2, 2], filters=[8, 16, 32]),
        32,
        "skip_layers",
        "output_block",
    ),
    "UNETR": (
        lambda: (
            nets.UNETR(1, 2, (32,) * 3, feature_size=8, hidden_size=48, mlp_dim=96, num_heads=4, num_layers=4)
            if "num_layers" in nets.UNETR.__init__.__code__.co_varnames
            else nets.UNETR(1, 2, (32,) * 3, feature_size=8, hidden_size=48, mlp_dim=96, num_heads=4)
        ),
        32,
        "decoder2",
        "out",
    ),
    "AttentionUnet": (lambda: nets.AttentionUnet(3, 1, 2, (8, 16, 32), (2, 2)), 32, "model.1", "model.2"),
}


def _by_name(infos):
    return {info.name: info for info in infos}


@pytest.mark.parametrize("net", sorted(SEGMENTATION))
def test_segmentation_default_is_the_stage_before_the_head(net):
    build, size, expected, head = SEGMENTATION[net]
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(1, 1, size, size, size)
    infos = list_layers(model, x)
    default = [info for info in infos if info.is_default]
    assert [info.name for info in default] == [expected]
    assert "segmentation" in default[0].reason and f"'{head}'" in default[0].reason
    result = explain(model, x, "gradcam", target=1)
    assert result.layers == [expected]
    assert result.heatmap.shape == (1, size, size, size)
    assert float(abs(result.raw).max()) > 0


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    return nets.SwinUNETR(in_channels=1, out_channels=2, feature_size=12).eval()  # 64^3: 32^3 ends at 1 voxel


def test_swin_window_attention_is_not_cam_capable_and_is_refused(swin):
    x = torch.randn(1, 1, 64, 64, 64)
    infos = list_layers(swin, x)
    windowed = [
        info for info in infos if info.output_shape and len(info.output_shape) == 3 and info.output_shape[0] != 1
    ]
    assert windowed, "SwinUNETR's window attention should output (windows x batch, 343, C)"
    assert not any(info.cam_capable for info in windowed)
    assert all("not the batch" in info.reason for info in windowed)
    # channels-last block outputs (N, D, H, W, C) are not read as feature maps either
    assert not _by_name(infos)["swinViT.layers1.0.blocks.0.norm1"].cam_capable
    assert [info.name for info in infos if info.is_default] == ["decoder1"]
    name = windowed[0].name
    with pytest.raises(SaliencyError) as caught:
        explain(swin, x, "gradcam", layers=name, target=1)
    message = str(caught.value)
    assert name in message and "not the batch" in message and "decoder1" in message


def test_class_token_vit_default_gets_gradient_on_every_token():
    torch.manual_seed(0)
    model = nets.ViT(
        1,
        (32,) * 3,
        (8,) * 3,
        hidden_size=48,
        mlp_dim=96,
        num_layers=2,
        num_heads=4,
        classification=True,
        num_classes=2,
    ).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    default = [info for info in list_layers(model, x) if info.is_default]
    assert [info.name for info in default] == ["blocks.1.norm1"]
    assert "class token" in default[0].reason
    result = explain(model, x, "gradcam", target=1, output_key=0)
    assert result.layers == ["blocks.1.norm1"] and result.heatmap.shape == (1, 32, 32, 32)
    assert float(abs(result.raw).max()) > 0
    at_norm = explain(model, x, "gradcam", layers="norm", target=1, output_key=0, relu=False)
    assert float(abs(at_norm.raw).max()) == 0  # why `norm` is not the default


@pytest.fixture(scope="module")
def efficientnet():
    torch.manual_seed(0)
    return nets.EfficientNetBN("efficientnet-b0", spatial_dims=3, in_channels=1, num_classes=2, pretrained=False).eval()


def test_efficientnet_reused_swish_is_never_the_default(efficientnet):
    x = torch.randn(1, 1, 64, 64, 64)
    infos = _by_name(list_layers(efficientnet, x))
    assert infos["_swish"].calls > 1 and not infos["_swish"].is_default
    assert "called" in infos["_swish"].reason
    assert infos["_bn1"].is_default and "_swish" in infos["_bn1"].reason
    result = explain(efficientnet, x, "gradcam", target=1, relu=False)
    assert result.layers == ["_bn1"] and result.heatmap.shape == (1, 64, 64, 64)
    assert float(abs(result.raw).max()) > 0


def test_efficientnet_swish_is_refused_for_ablation(efficientnet):
    x = torch.randn(1, 1, 64, 64, 64)
    with pytest.raises(SaliencyError) as caught:
        explain(efficientnet, x, "ablationcam", layers="_swish", target=1, max_channels=2)
    message = str(caught.value)
    assert "'_swish'" in message and "called" in message and "\n" not in message
    assert "input" not in message.split("(")[0]  # the input's shape is not blamed
