"""A tiny nnU-Net v2 trained-model folder, planned by nnU-Net itself, with random-init weights.

nnU-Net reads its folders from environment variables at import time, so the fingerprint and the plans are
made in a subprocess with ``nnUNet_raw/preprocessed/results`` pointing into a temporary folder. The plans
are nnU-Net's own except ``features_per_stage``, divided by 8 so that the checkpoint is a few hundred kB
and the test fast (the architecture, patch size, spacing and normalisation are nnU-Net's choices). The
checkpoint holds the keys ``nnUNetTrainer.save_checkpoint`` writes, with the same types (a torch.device in
``init_args``, numpy scalars in ``logging``), so that loading meets what real checkpoints contain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import SimpleITK as sitk

DATASET_ID = 901
DATASET = f"Dataset{DATASET_ID}_Tiny"


def synthetic_case(seed: int, size=(30, 26, 20), spacing=(1.1, 1.3, 2.0), direction=None, origin=(0.0, 0.0, 0.0)):
    """A CT-like volume (air -1000 around a soft-tissue body, a bright blob) and its label (body = 1)."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.arange(n, dtype=float) for n in size[::-1]], indexing="ij")
    centre = np.array(size[::-1], float) / 2 + rng.uniform(-2, 2, 3)
    body = ((k - centre[0]) / (size[2] * 0.45)) ** 2 + ((j - centre[1]) / (size[1] * 0.45)) ** 2 + (
        (i - centre[2]) / (size[0] * 0.45)
    ) ** 2 < 1
    blob_c = centre + rng.uniform(-3, 3, 3)
    blob = ((k - blob_c[0]) * spacing[2]) ** 2 + ((j - blob_c[1]) * spacing[1]) ** 2 + (
        (i - blob_c[2]) * spacing[0]
    ) ** 2 < 5.0**2
    values = np.where(body, 40.0, -1000.0) + np.where(blob, 160.0, 0.0) + rng.normal(0, 15, size[::-1])
    values[values == 0] = 1.0  # nnU-Net crops to the non-zero box; keep every voxel in it
    image = sitk.GetImageFromArray(values.astype(np.float32))
    label = sitk.GetImageFromArray(body.astype(np.uint8))
    for img in (image, label):
        img.SetSpacing(spacing)
        img.SetOrigin(origin)
        if direction is not None:
            img.SetDirection(direction)
    return image, label


def oblique_direction(angles=(0.3, -0.2, 0.25)) -> tuple:
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return tuple((rz @ ry @ rx).ravel())


PLAN_SCRIPT = textwrap.dedent("""
    import json, sys
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments
    extract_fingerprints([{id}], num_processes=1, check_dataset_integrity=True, clean=True, verbose=False)
    plan_experiments([{id}])
""")


def plan_dataset(root: Path, dataset_id: int, dataset_json: dict) -> None:
    """Write ``dataset.json`` beside the images under ``root/raw`` and run nnU-Net's fingerprinting and planning
    on it in a subprocess (its folders come from the environment), one process, one thread."""
    dataset = next((root / "raw").glob(f"Dataset{dataset_id}_*"))
    (dataset / "dataset.json").write_text(json.dumps(dataset_json))
    env = dict(
        os.environ,
        nnUNet_raw=str(root / "raw"),
        nnUNet_preprocessed=str(root / "preprocessed"),
        nnUNet_results=str(root / "results"),
        OMP_NUM_THREADS="1",
        nnUNet_def_n_proc="1",
    )
    subprocess.run(
        [sys.executable, "-c", PLAN_SCRIPT.format(id=dataset_id)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        encoding="utf-8",  # whatever locale an earlier test set
    )


def make_nnunet_folder(root: Path, folds=(0, 1), cases=4, shrink=8) -> Path:
    """Plan a tiny dataset with nnU-Net and write ``root/results/.../nnUNetTrainer__nnUNetPlans__3d_fullres``
    with ``plans.json``, ``dataset.json`` and ``fold_N/checkpoint_final.pth`` (random weights per fold)."""

    raw, pre, res = root / "raw", root / "preprocessed", root / "results"
    ds = raw / DATASET
    (ds / "imagesTr").mkdir(parents=True)
    (ds / "labelsTr").mkdir(parents=True)
    for n in range(cases):
        image, label = synthetic_case(n, spacing=(1.1 + 0.05 * n, 1.3, 2.0))
        sitk.WriteImage(image, str(ds / "imagesTr" / f"case_{n:03d}_0000.nii.gz"))
        sitk.WriteImage(label, str(ds / "labelsTr" / f"case_{n:03d}.nii.gz"))
    dataset_json = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "body": 1},
        "numTraining": cases,
        "file_ending": ".nii.gz",
    }
    plan_dataset(root, DATASET_ID, dataset_json)
    plans = json.loads((pre / DATASET / "nnUNetPlans.json").read_text())
    arch = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    arch["features_per_stage"] = [max(2, f // shrink) for f in arch["features_per_stage"]]
    out = res / DATASET / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    out.mkdir(parents=True)
    (out / "plans.json").write_text(json.dumps(plans, indent=2))
    (out / "dataset.json").write_text(json.dumps(dataset_json, indent=2))
    (out / "dataset_fingerprint.json").write_text((pre / DATASET / "dataset_fingerprint.json").read_text())
    for fold in folds:
        write_checkpoint(out / f"fold_{fold}" / "checkpoint_final.pth", plans, dataset_json, fold, seed=fold)
    return out


def build_network(plans, dataset_json, configuration="3d_fullres"):
    """The network exactly as nnU-Net builds it from the plans (its own helper)."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    arch = plans["configurations"][configuration]["architecture"]
    return get_network_from_plans(
        arch["network_class_name"],
        arch["arch_kwargs"],
        arch["_kw_requires_import"],
        len(dataset_json["channel_names"]),
        len(dataset_json["labels"]),
        allow_init=True,
        deep_supervision=False,
    )


def write_checkpoint(path: Path, plans, dataset_json, fold, seed=0, configuration="3d_fullres"):
    """A checkpoint with the keys and value types of ``nnUNetTrainer.save_checkpoint``."""
    import torch

    torch.manual_seed(seed)
    net = build_network(plans, dataset_json, configuration)
    with torch.no_grad():  # random init leaves near-constant outputs; spread the logits a little
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.99, nesterov=True)
    checkpoint = {
        "network_weights": net.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "grad_scaler_state": None,
        "logging": {
            "mean_fg_dice": [np.float64(0.5)],
            "ema_fg_dice": [np.float64(0.5)],
            "dice_per_class_or_region": [[np.float32(0.5)]],
            "train_losses": [np.float32(-0.1)],
            "val_losses": [np.float32(-0.1)],
            "lrs": [0.01],
            "epoch_start_timestamps": [1.0],
            "epoch_end_timestamps": [2.0],
        },
        "_best_ema": np.float64(0.5),
        "current_epoch": 1,
        "init_args": {
            "plans": plans,
            "configuration": configuration,
            "fold": fold,
            "dataset_json": dataset_json,
            "device": torch.device("cpu"),
        },
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
