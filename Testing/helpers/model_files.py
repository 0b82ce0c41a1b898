"""Model cards and files the model tests share: a tiny LesionNet card, written beside a file or passed
as a dict, and Grad-CAM at the card's target layer (the map every loading route must reproduce)."""

import json

from SaliencyExplorerLib import explain

ARCH = {"class": "SaliencyExplorerLib.demo.network.LesionNet", "kwargs": {"width": 2}}
TINY_GRID_CARD = {  # LesionNet(width=2)'s card on a 24^3 grid of 2 mm (no architecture: for a module in hand)
    "task": "classification",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["no", "yes"],
    "input": {
        "spacing": [2.0, 2.0, 2.0],
        "size": [24, 24, 24],
        "center": "image",
        "intensity": {"type": "window", "min": -50, "max": 250},
    },
    "output": {"activation": "softmax"},
    "target_layer": "features.block3",
}


def card_dict(**extra):
    card = {
        "name": "tiny",
        "spatial_dims": 3,
        "in_channels": 1,
        "classes": ["no lesion", "lesion"],
        "input": {"size": [8, 8, 8]},
        "target_layer": "features.block3",
        "architecture": ARCH,
    }
    card.update(extra)
    return card


def write_card(tmp_path, name="model.json", **extra):
    path = tmp_path / name
    path.write_text(json.dumps(card_dict(**extra)))
    return path


def gradcam(model, x):
    return explain(model, x, method="gradcam", layers="features.block3", target=1).raw


def tiny_lesion_model(folder):
    """A small LesionNet (random weights, seed 0) as state dict + card on a 24^3 grid of 2 mm."""
    import json

    import torch
    from SaliencyExplorerLib.demo.network import LesionNet

    torch.manual_seed(0)
    torch.save(LesionNet(width=2).state_dict(), folder / "tiny.pt")
    card = {
        **TINY_GRID_CARD,
        "architecture": {
            "class": "SaliencyExplorerLib.demo.network.LesionNet",
            "kwargs": {"in_channels": 1, "num_classes": 2, "width": 2},
        },
    }
    (folder / "tiny.json").write_text(json.dumps(card))
    return folder / "tiny.pt", folder / "tiny.json"
