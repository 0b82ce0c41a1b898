"""models.network_args: allow-listed networks may not download or write files. Refused by name (signature
defaults included) and by value before building; by what they do (an audit hook) while building. In a
subprocess with its own audit hook: no socket, no URL request, nothing written to TORCH_HOME."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import SaliencyExplorerLib
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.network_args import check_network_args, no_side_effects

nets = pytest.importorskip("monai.networks.nets")


@pytest.mark.parametrize(
    "cls,kwargs,phrase",
    [
        (
            "DenseNet121",
            {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "pretrained": True},
            "pretrained=True",
        ),
        ("HoVerNet", {"pretrained_url": "https://example.org/w.pth"}, "pretrained_url"),
        ("HoVerNet", {"pretrained_url": "file:///etc/hostname"}, "pretrained_url"),
        ("EfficientNetBN", {"model_name": "efficientnet-b0"}, "pretrained=True (its default)"),
        ("ResNetFeatures", {"model_name": "resnet10"}, "pretrained=True (its default)"),
        (
            "Transchex",
            {"in_channels": 1, "img_size": (16, 16), "num_classes": 2, "patch_size": (8, 8)},
            "path_or_repo_id",
        ),
        (
            "UNet",
            {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [4],
                "strides": [],
                "act": ("prelu", {"init": "~/w.pt"}),
            },
            "URL or a file path",
        ),
        ("BasicUNet", {"spatial_dims": 3, "cache_dir": "x"}, "cache_dir"),
    ],
)
def test_download_arguments_are_refused_before_building(cls, kwargs, phrase):
    with pytest.raises(ModelLoadError) as err:
        check_network_args(getattr(nets, cls), kwargs, "card")
    assert phrase in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        ("DenseNet121", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2}),
        ("DenseNet121", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "pretrained": False}),
        ("EfficientNetBN", {"model_name": "efficientnet-b0", "pretrained": False, "spatial_dims": 3}),
        (
            "UNet",
            {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [4, 8],
                "strides": [2],
                "norm": ("group", {"num_groups": 2}),
                "act": "prelu",
            },
        ),
        ("SwinUNETR", {"in_channels": 1, "out_channels": 2}),
    ],
)
def test_plain_networks_pass(cls, kwargs):
    check_network_args(getattr(nets, cls), kwargs, "card")
    with no_side_effects("card"):
        getattr(nets, cls)(**kwargs)


def test_runtime_guard_stops_what_the_name_check_missed(tmp_path, monkeypatch):
    """By what it does: HoVerNet asked (past the name check) to copy a file:// URL into TORCH_HOME."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    (tmp_path / "w.pth").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="building the network tried to"):
        with no_side_effects("card"):
            nets.HoVerNet(pretrained_url=(tmp_path / "w.pth").as_uri())
    assert not (tmp_path / "th").exists()


AUDIT = textwrap.dedent("""
    import json, os, sys
    events = []
    home = os.environ["TORCH_HOME"]
    def hook(event, args):
        if event.startswith(("socket.connect", "socket.getaddrinfo", "socket.gethostby", "socket.send", "urllib.",
                             "http.")):
            events.append([event, str(args)[:100]])
        elif event == "open" and str(args[0]).startswith(home) and (args[1] or "r") != "r":
            events.append([event, str(args[0])])
    sys.addaudithook(hook)
    from SaliencyExplorerLib.cli import main
    codes = [main(argv) for argv in json.loads(sys.argv[1])]
    network_events = list(events)
    if sys.argv[2] == "control":  # the same constructor, called directly: the hook does see it
        from monai.networks.nets import HoVerNet
        try:
            HoVerNet(pretrained_url=sys.argv[3])
        except Exception:
            pass
    print(json.dumps({"codes": codes, "events": network_events, "after": events[len(network_events):]}))
""")


def test_no_connection_and_nothing_in_torch_home(tmp_path):
    import torch
    from SaliencyExplorerLib.demo.network import LesionNet

    torch.save(LesionNet(1, 2, 2).state_dict(), tmp_path / "model.pt")
    local = tmp_path / "weights.pth"
    torch.save({}, local)
    argvs = []
    for kwargs in (
        {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "pretrained": True},
        {"pretrained_url": local.as_uri()},
        {"pretrained_url": "https://example.org/w.pth"},
    ):
        cls = "DenseNet121" if "pretrained" in kwargs else "HoVerNet"
        card = tmp_path / f"card_{len(argvs)}.json"
        card.write_text(
            json.dumps(
                {
                    "spatial_dims": 3,
                    "in_channels": 1,
                    "classes": ["a", "b"],
                    "architecture": {"class": f"monai.networks.nets.{cls}", "kwargs": kwargs},
                }
            )
        )
        argvs.append(["layers", "-m", str(tmp_path / "model.pt"), "-c", str(card)])
    home = tmp_path / "torch_home"
    env = {**os.environ, "TORCH_HOME": str(home), "PYTHONPATH": str(Path(SaliencyExplorerLib.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", AUDIT, json.dumps(argvs), "control", local.as_uri()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(code != 0 for code in report["codes"]), result.stderr
    assert report["events"] == []  # nothing connected, nothing written to TORCH_HOME by the tool
    assert report["after"], "control: a direct HoVerNet(pretrained_url=file://...) writes into TORCH_HOME"


@pytest.mark.parametrize(
    "extra,phrase",
    [
        ({"pretrained_url": "https://example.org/w.pth"}, "pretrained_url"),
        ({"norm_op_kwargs": {"eps": "file:///etc/hostname"}}, "URL or a file path"),
    ],
)
def test_nnunet_plans_cannot_ask_for_downloads(tmp_path, extra, phrase):
    pytest.importorskip("dynamic_network_architectures")
    from SaliencyExplorerLib.models import nnunet

    kwargs = {
        "n_stages": 2,
        "features_per_stage": [2, 4],
        "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": [[3, 3, 3]] * 2,
        "strides": [[1, 1, 1], [2, 2, 2]],
        "n_conv_per_stage": [1, 1],
        "n_conv_per_stage_decoder": [1],
        "conv_bias": True,
        "norm_op": None,
        "norm_op_kwargs": {},
        "dropout_op": None,
        "nonlin": None,
        **extra,
    }
    plans = {
        "configurations": {
            "3d_fullres": {
                "architecture": {
                    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                    "arch_kwargs": kwargs,
                    "_kw_requires_import": ["conv_op"],
                }
            }
        }
    }
    dataset = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "a": 1}}
    with pytest.raises(ModelLoadError) as err:
        nnunet.build_network(plans, dataset, "3d_fullres", tmp_path)
    assert phrase in str(err.value) and "plans.json" in str(err.value)
    del kwargs[next(iter(extra))]
    assert nnunet.build_network(plans, dataset, "3d_fullres", tmp_path) is not None  # control: builds without it
