"""Model folders: an nnU-Net v2 trained-model folder or a MONAI bundle, recognised by their files.

Why its own module: ``loading.load_model`` hands any directory here, and the one error for a folder that
is neither lists what each kind must contain, so users see at once which file is missing.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from .monai_bundle import card_for_bundle, is_bundle, load_bundle
from .nnunet import card_for_folder, is_nnunet_folder, load_nnunet


def folder_kind(path: Path) -> str | None:
    """'nnunet', 'monai_bundle' or None, from the files the folder holds."""
    if is_nnunet_folder(path):
        return "nnunet"
    if is_bundle(path):
        return "monai_bundle"
    return None


def load_folder(path, card=None, *, trust_code=False, device=None):
    """(module, card, kind, sha256, notes) for a model folder; ``card`` (a ModelCard) replaces the derived one."""
    path = Path(path)
    kind = folder_kind(path)
    notes: list[str] = []
    if kind == "nnunet":
        module, card_obj, sha, _ = load_nnunet(path, card, trust_code=trust_code, device=device, notes=notes)
    elif kind == "monai_bundle":
        module, card_obj, sha, _ = load_bundle(path, card, device=device, notes=notes)
    else:
        if (path / "plans.pkl").is_file():
            raise ModelLoadError(f"{path} is an nnU-Net v1 folder (plans.pkl); only nnU-Net v2 folders are supported.")
        raise ModelLoadError(
            f"{path} is a folder but neither an nnU-Net v2 trained-model folder (plans.json, dataset.json, "
            "fold_N/checkpoint_final.pth) nor a MONAI bundle (configs/inference.json or .yaml, "
            "configs/metadata.json, models/model.pt or model.ts). Give one of those, or a model file."
        )
    return module, card_obj, kind, sha, notes


def derive_folder_card(path):
    """The card a model folder implies, without loading weights: (card, notes)."""
    path = Path(path)
    kind = folder_kind(path)
    notes: list[str] = []
    if kind == "nnunet":
        return card_for_folder(path, notes), notes
    if kind == "monai_bundle":
        return card_for_bundle(path, notes), notes
    load_folder(path)  # raises the folder error
