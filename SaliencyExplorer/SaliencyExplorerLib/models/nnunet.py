"""nnU-Net v2 trained-model folders as models: the network from the plans, the weights without running code,
and a model card derived from ``plans.json`` and ``dataset.json``.

Why: nnU-Net users hold a folder (``plans.json``, ``dataset.json``, ``fold_N/checkpoint_final.pth``), not a
model file and a card. Everything nnU-Net does before and after its network is written down in the plans,
so the card follows from them: SimpleITK array order (``zyx``), no reorientation (the model grid keeps the
image's own direction), the configuration's target spacing reached by nnU-Net's own index-space resize of
the non-zero box (``fit: "extent"``, ``resampling: "nnunet"``: separate z on anisotropic scans, the labels
taken on the native grid), normalisation in native space before resampling (CT: clip to the foreground's
0.5/99.5 percentiles, z-score with the stored mean and std; else a per-image z-score), sliding windows of
the patch size with nnU-Net's tiling (step 0.5) and its Gaussian (sigma 1/8), test-time mirroring over the
checkpoint's ``inference_allowed_mirroring_axes`` (``MirrorEnsemble``), softmax over the labels of
``dataset.json``. Several folds are averaged, as nnU-Net's ensemble.

    load_nnunet("Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres")          # every fold found
    load_nnunet("Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0")   # one fold

Split by job: nnunet_plans.py (reading and checking the folder), nnunet_card.py (derive_card),
nnunet_network.py (the network, its weights, the ensembles; the only importer of
``dynamic_network_architectures``, the package nnU-Net builds its networks with). Here: loading a folder.
See ``docs/model-files.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError
from ..file_hash import folder_sha256
from .nnunet_card import RESAMPLING_ORDER, derive_card
from .nnunet_network import (
    ARCH_PREFIX,
    IMPORTABLE_PREFIX,
    INSTALL,
    SETUP_OPTION,
    FoldEnsemble,
    MirrorEnsemble,
    _load_weights,
    build_network,
)
from .nnunet_plans import (
    CHECKPOINTS,
    MAX_JSON_BYTES,
    SUPPORTED_CONFIGS,
    _fail,
    _read_json,
    checkpoint_types,
    configuration,
    dataset_fields,
    find_folds,
    is_nnunet_folder,
    read_checkpoint,
)

__all__ = [  # the names this module always had, now from nnunet_plans, nnunet_card and nnunet_network
    "ARCH_PREFIX",
    "CHECKPOINTS",
    "IMPORTABLE_PREFIX",
    "INSTALL",
    "MAX_JSON_BYTES",
    "RESAMPLING_ORDER",
    "SETUP_OPTION",
    "SUPPORTED_CONFIGS",
    "FoldEnsemble",
    "MirrorEnsemble",
    "build_network",
    "card_for_folder",
    "checkpoint_types",
    "configuration",
    "dataset_fields",
    "derive_card",
    "find_folds",
    "is_nnunet_folder",
    "load_nnunet",
    "read_checkpoint",
]


def load_nnunet(path, card=None, *, trust_code=False, device=None, notes=None):
    """(module, card, sha256, files) for an nnU-Net v2 folder or ``fold_N`` folder; the derived card unless
    ``card`` (a ModelCard) is given."""
    notes = [] if notes is None else notes
    root, checkpoints = find_folds(Path(path))
    plans_path, dataset_path = root / "plans.json", root / "dataset.json"
    if (root / "plans.pkl").is_file() and not plans_path.is_file():
        raise ModelLoadError(f"{root} is an nnU-Net v1 folder (plans.pkl); only nnU-Net v2 folders are supported.")
    plans = _read_json(plans_path, "plans.json")
    dataset = _read_json(dataset_path, "dataset.json")
    networks, config_name, mirror_axes = [], None, None
    for ckpt in checkpoints:
        checkpoint = read_checkpoint(ckpt, trust_code)
        init = checkpoint.get("init_args") if isinstance(checkpoint.get("init_args"), dict) else {}
        name = init.get("configuration")
        if not isinstance(name, str):
            _fail(ckpt, "init_args.configuration", "is missing", "This is not a checkpoint nnU-Net v2 wrote.")
        if config_name is None:  # nnU-Net takes the mirroring axes of the first fold too
            config_name, mirror_axes = name, checkpoint.get("inference_allowed_mirroring_axes")
        elif name != config_name:
            _fail(
                ckpt,
                "init_args.configuration",
                f"is {name!r} but {checkpoints[0]} is {config_name!r}",
                "Folds of one folder must share a configuration.",
            )
        network = build_network(plans, dataset, name, root)
        _load_weights(network, checkpoint["network_weights"], ckpt, plans_path)
        networks.append(network)
    card_obj = card if card is not None else derive_card(plans, dataset, config_name, root, notes, mirror_axes)
    module = networks[0] if len(networks) == 1 else FoldEnsemble(networks, [c.parent.name for c in checkpoints])
    module.to(torch.device(device or "cpu")).eval()
    files = [plans_path, dataset_path, *checkpoints]
    return module, card_obj, folder_sha256(files), files


def card_for_folder(path, notes=None):
    """The derived card of a folder (or fold), reading the first checkpoint only for its configuration."""
    root, checkpoints = find_folds(Path(path))
    plans = _read_json(root / "plans.json", "plans.json")
    dataset = _read_json(root / "dataset.json", "dataset.json")
    checkpoint = read_checkpoint(checkpoints[0])
    init = checkpoint.get("init_args") or {}
    name = init.get("configuration") if isinstance(init, dict) else None
    if not isinstance(name, str):
        _fail(checkpoints[0], "init_args.configuration", "is missing", "This is not a checkpoint nnU-Net v2 wrote.")
    return derive_card(plans, dataset, name, root, notes, checkpoint.get("inference_allowed_mirroring_axes"))
