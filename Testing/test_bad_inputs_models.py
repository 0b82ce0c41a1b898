"""Issue 16's model-file attacks in the bad-input harness: the same front doors and the same assertions as
``test_bad_inputs.py`` (non-zero exit or a SaliencyError, one line, no payload ran, every input byte-identical,
nothing new in a private temp folder), for

* ``.pt2`` archives outside what torch.export.save writes (opaque object in a nested constants path,
  ``guards_code``, an exponent-bomb shape expression, an unknown member; renamed ``.pt`` too);
* damaged nnU-Net checkpoints and MONAI-bundle ``models/model.pt`` (empty, truncated, Git LFS pointer,
  TorchScript), named as such, also truncated with ``--trust-code``;
* allow-listed networks asked to download (``pretrained``, ``pretrained_url``, a default ``pretrained=True``)
  from a card or a bundle.
"""

from __future__ import annotations

import json

import pytest
import test_bad_inputs as harness
import torch
from helpers import evil_files as me


def _pt2_cases():
    def evil(writer, rename=None, command="explain"):
        def build(tmp):
            ct, _, card = harness._base(tmp)
            path = writer(tmp, tmp / "pwned")
            if rename:
                path = me.renamed(path, rename)
            if command == "layers":
                return "cli", ["layers", "-m", str(path), "-c", str(card)]
            return "cli", harness._explain(ct, path, tmp / "h.nrrd", card=card)

        return build

    cases = {
        f"evil pt2 {w.__name__}": evil(w)
        for w in (
            me.evil_export_opaque_nested,
            me.evil_export_guards,
            me.evil_export_exponent_bomb,
            me.evil_export_unknown_member,
            me.evil_export_module_stack,
        )
    }
    cases["evil pt2 opaque_obj renamed weights.pt"] = evil(me.evil_export_opaque_nested, "weights.pt")
    cases["evil pt2 guards_code renamed model.pt"] = evil(me.evil_export_guards, "model.pt")
    cases["evil pt2 exponent bomb via layers"] = evil(me.evil_export_exponent_bomb, command="layers")

    def py_load(tmp):
        from SaliencyExplorerLib.models.loading import load_model

        path = me.evil_export_guards(tmp, tmp / "pwned")
        return "py", lambda: load_model(path, harness.CARD)

    cases["load_model evil pt2 guards_code"] = py_load
    return cases


def _damaged(tmp, name):
    me.write_damaged(tmp / "damaged")
    if name == "scripted.pt":
        torch.jit.save(torch.jit.script(me.TinyNet().eval()), tmp / "damaged" / name)
    return (tmp / "damaged" / name).read_bytes()


def _nnunet_folder(tmp, checkpoint: bytes):
    folder = tmp / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text("{}")
    (folder / "dataset.json").write_text("{}")
    (folder / "fold_0" / "checkpoint_final.pth").write_bytes(checkpoint)
    return folder


def _bundle(tmp, weights: bytes | None = None, network=None):
    root = tmp / "bundle"
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    network = network or {
        "_target_": "UNet",
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "strides": [2],
    }
    (root / "configs" / "inference.json").write_text(
        json.dumps(
            {
                "network_def": network,
                "preprocessing": [
                    {"_target_": "LoadImaged", "keys": "image"},
                    {"_target_": "EnsureChannelFirstd", "keys": "image"},
                ],
            }
        )
    )
    (root / "configs" / "metadata.json").write_text("{}")
    if weights is None:
        torch.save({}, root / "models" / "model.pt")
    else:
        (root / "models" / "model.pt").write_bytes(weights)
    return root


def _damaged_folder_cases():
    def nnunet(name, *extra):
        def build(tmp):
            return "cli", ["layers", "-m", str(_nnunet_folder(tmp, _damaged(tmp, name))), *extra]

        return build

    def bundle(name):
        def build(tmp):
            return "cli", ["layers", "-m", str(_bundle(tmp, _damaged(tmp, name)))]

        return build

    cases = {}
    for name in ("empty.pt", "truncated.pt", "lfs.pt", "scripted.pt"):
        cases[f"nnU-Net checkpoint {name}"] = nnunet(name)
        cases[f"bundle models/model.pt {name}"] = bundle(name)
    cases["nnU-Net checkpoint truncated.pt --trust-code"] = nnunet("truncated.pt", "--trust-code")
    return cases


def _download_cases():
    def card(cls, kwargs):
        def build(tmp):
            ct, model, _ = harness._base(tmp)
            path = harness._card(tmp, architecture={"class": f"monai.networks.nets.{cls}", "kwargs": kwargs})
            return "cli", harness._explain(ct, model, tmp / "h.nrrd", card=path)

        return build

    def bundle(tmp):
        return "cli", [
            "layers",
            "-m",
            str(
                _bundle(
                    tmp,
                    network={
                        "_target_": "DenseNet121",
                        "spatial_dims": 3,
                        "in_channels": 1,
                        "out_channels": 2,
                        "pretrained": True,
                    },
                )
            ),
        ]

    return {
        "card DenseNet121 pretrained=True": card(
            "DenseNet121", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "pretrained": True}
        ),
        "card HoVerNet pretrained_url file://": card("HoVerNet", {"pretrained_url": "file:///etc/hostname"}),
        "card EfficientNetBN default pretrained": card("EfficientNetBN", {"model_name": "efficientnet-b0"}),
        "card UNet kwarg is a path": card(
            "UNet",
            {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [4, 8],
                "strides": [2],
                "act": "/tmp/act.pth",
            },
        ),
        "bundle network_def DenseNet121 pretrained": bundle,
    }


MODEL_CASES = {**_pt2_cases(), **_damaged_folder_cases(), **_download_cases()}


def test_model_cases_are_many():
    assert len(MODEL_CASES) >= 20


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_model_attack_is_refused_cleanly(name, tmp_path, capsys, monkeypatch):
    """Runs the shared harness body on this case (it looks the case up in harness.CORPUS)."""
    monkeypatch.setitem(harness.CORPUS, name, MODEL_CASES[name])
    harness.test_bad_input_is_refused_cleanly(name, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize(
    "name,phrase",
    [
        ("nnU-Net checkpoint truncated.pt", "truncated"),
        ("nnU-Net checkpoint lfs.pt", "git lfs pull"),
        ("nnU-Net checkpoint scripted.pt", "TorchScript"),
        ("nnU-Net checkpoint empty.pt", "empty"),
        ("bundle models/model.pt truncated.pt", "truncated"),
        ("bundle models/model.pt lfs.pt", "git lfs pull"),
        ("bundle models/model.pt scripted.pt", "TorchScript"),
        ("bundle models/model.pt empty.pt", "empty"),
        ("nnU-Net checkpoint truncated.pt --trust-code", "truncated"),
        ("evil pt2 evil_export_guards", "guard code"),
        ("evil pt2 evil_export_exponent_bomb", "shape expression"),
        ("evil pt2 evil_export_opaque_nested", "opaque_obj_0/p"),
        ("card DenseNet121 pretrained=True", "pretrained=True"),
        ("card HoVerNet pretrained_url file://", "pretrained_url"),
    ],
)
def test_message_names_what_is_wrong(name, phrase, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kind, argv = MODEL_CASES[name](tmp_path)
    assert kind == "cli"
    assert harness.main(argv) != 0
    err = capsys.readouterr().err
    assert phrase in err and "would run code" not in err, err
