"""A tiny nnU-Net v2 lesion model (planned by nnU-Net, trained here for a few hundred steps) and scans of any
geometry with a lesion at a known RAS point, for the fidelity matrix (Testing/fidelity, benchmarks/).

Why trained weights: with random weights "the lesion" is noise and a Dice means nothing. The network
(nnU-Net's own plans, features divided by 8) learns a bright sphere in a soft-tissue body from nnU-Net's own
preprocessed training cases (DefaultPreprocessor), without flips, so test-time mirroring changes its output.
Scans are drawn in patient space (the lesion is a sphere around a RAS point), so any orientation, flip,
obliquity or spacing shows the same anatomy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .nnunet_fixture import oblique_direction, plan_dataset

DATASET_ID = 902
DATASET = f"Dataset{DATASET_ID}_Lesion"
BODY, LESION, NOISE = 40.0, 130.0, 12.0  # HU-like values
LESION_RAS = (4.0, -3.0, 2.0)  # the test scans' lesion centre (mm, RAS)
SCAN_CENTRE = (-1.0, 1.0, 4.0)  # the test scans' centre (mm, LPS): the lesion a few mm off it


def scan(size, spacing, direction=None, origin=None, lesion_ras=(4.0, -3.0, 2.0), radius=6.0, seed=0):
    """(image, lesion mask) on the given grid: an ellipsoid body around the grid's centre and a sphere of
    ``radius`` mm at ``lesion_ras``, air (-1000) outside, Gaussian noise."""
    image = sitk.Image([int(n) for n in size], sitk.sitkFloat32)
    image.SetSpacing([float(s) for s in spacing])
    if direction is not None:
        image.SetDirection([float(v) for v in direction])
    extent = (np.asarray(size, float) - 1) * np.asarray(spacing, float)
    matrix = np.asarray(image.GetDirection(), float).reshape(3, 3)
    image.SetOrigin([float(v) for v in (np.zeros(3) if origin is None else origin) - matrix @ (extent / 2)])
    k, j, i = np.meshgrid(*[np.arange(n, dtype=float) for n in size[::-1]], indexing="ij")
    idx = np.stack([i, j, k], -1) * np.asarray(spacing, float)
    lps = np.asarray(image.GetOrigin(), float) + idx @ matrix.T
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint(((np.asarray(size, float) - 1) / 2).tolist()))
    half = extent / 2 * 0.9 + 1e-3
    body = (((lps - centre) @ matrix / half) ** 2).sum(-1) < 1
    lesion_lps = np.asarray(lesion_ras, float) * (-1, -1, 1)
    lesion = ((lps - lesion_lps) ** 2).sum(-1) < radius**2
    rng = np.random.default_rng(seed)
    values = (
        np.where(body, BODY, -1000.0) + np.where(lesion & body, LESION - BODY, 0.0) + rng.normal(0, NOISE, body.shape)
    )
    values[values == 0] = 1.0  # nnU-Net crops to the non-zero box; keep every voxel in it
    out = sitk.GetImageFromArray(values.astype(np.float32))
    out.CopyInformation(image)
    mask = sitk.GetImageFromArray((lesion & body).astype(np.uint8))
    mask.CopyInformation(image)
    return out, mask


def _training_cases(ds: Path, cases: int):
    rng = np.random.default_rng(902)
    for n in range(cases):
        spacing = (1.0 + 0.1 * rng.random(), 1.0 + 0.1 * rng.random(), 1.6 + 0.2 * rng.random())
        ras = rng.uniform(-6, 6, 3)
        image, mask = scan((36, 32, 18), spacing, lesion_ras=ras, radius=rng.uniform(4, 7), seed=n)
        sitk.WriteImage(image, str(ds / "imagesTr" / f"case_{n:03d}_0000.nii.gz"))
        sitk.WriteImage(mask, str(ds / "labelsTr" / f"case_{n:03d}.nii.gz"))


def _train(plans: dict, dataset_json: dict, out: Path, ds: Path, cases: int, steps: int, seed: int = 0):
    import torch
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import (
        DefaultPreprocessor,
    )
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from .nnunet_fixture import build_network

    manager = PlansManager(plans)
    config = manager.get_configuration("3d_fullres")
    pre = DefaultPreprocessor(verbose=False)
    data = []
    for n in range(cases):
        x, y, _ = pre.run_case(
            [str(ds / "imagesTr" / f"case_{n:03d}_0000.nii.gz")],
            str(ds / "labelsTr" / f"case_{n:03d}.nii.gz"),
            manager,
            config,
            dataset_json,
        )
        data.append((torch.from_numpy(x).float(), torch.from_numpy(np.maximum(y, 0)).long()))
    patch = config.patch_size
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network(plans, dataset_json)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(steps):
        xs, ys = [], []
        for x, y in (data[int(rng.integers(len(data)))] for _ in range(2)):
            pad = [max(0, p - s) for p, s in zip(patch, x.shape[1:])]
            if any(pad):
                spec = [v for p in pad[::-1] for v in (p // 2, p - p // 2)]
                x = torch.nn.functional.pad(x, spec, value=float(x.min()))
                y = torch.nn.functional.pad(y, spec)
            start = [int(rng.integers(0, s - p + 1)) for s, p in zip(x.shape[1:], patch)]
            cut = tuple(slice(a, a + p) for a, p in zip(start, patch))
            xs.append(x[(slice(None), *cut)])
            ys.append(y[(0, *cut)])
        x, y = torch.stack(xs), torch.stack(ys)
        logits = net(x)
        prob = torch.softmax(logits, 1)[:, 1]
        target = (y == 1).float()
        dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
        loss = torch.nn.functional.cross_entropy(logits, y) + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net, float(loss.detach())


def make_lesion_folder(root: Path, cases: int = 6, steps: int = 250, shrink: int = 8) -> Path:
    """Plan with nnU-Net, train one fold here, write ``.../nnUNetTrainer__nnUNetPlans__3d_fullres`` with
    ``plans.json``, ``dataset.json`` and ``fold_0/checkpoint_final.pth`` (mirroring axes (0, 1, 2))."""
    import torch

    raw, pre, res = root / "raw", root / "preprocessed", root / "results"
    ds = raw / DATASET
    (ds / "imagesTr").mkdir(parents=True)
    (ds / "labelsTr").mkdir(parents=True)
    _training_cases(ds, cases)
    dataset_json = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "lesion": 1},
        "numTraining": cases,
        "file_ending": ".nii.gz",
    }
    plan_dataset(root, DATASET_ID, dataset_json)
    plans = json.loads((pre / DATASET / "nnUNetPlans.json").read_text())
    arch = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    arch["features_per_stage"] = [max(4, f // shrink) for f in arch["features_per_stage"]]
    net, _ = _train(plans, dataset_json, res, ds, cases, steps)
    out = res / DATASET / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    out.mkdir(parents=True)
    (out / "plans.json").write_text(json.dumps(plans, indent=2))
    (out / "dataset.json").write_text(json.dumps(dataset_json, indent=2))
    checkpoint = {
        "network_weights": net.state_dict(),
        "optimizer_state": {},
        "grad_scaler_state": None,
        "logging": {},
        "_best_ema": np.float64(0.5),
        "current_epoch": 1,
        "init_args": {
            "plans": plans,
            "configuration": "3d_fullres",
            "fold": 0,
            "dataset_json": dataset_json,
            "device": torch.device("cpu"),
        },
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }
    (out / "fold_0").mkdir()
    torch.save(checkpoint, out / "fold_0" / "checkpoint_final.pth")
    return out


def rotation(degrees) -> np.ndarray:
    """A rotation by ``degrees`` (about x, y, z, in that order) as a 3x3 matrix."""
    return np.asarray(oblique_direction(tuple(np.radians(degrees))), float).reshape(3, 3)


ISO = ((37, 33, 21), (1.1, 1.0, 1.5))
ANISO = ((41, 37, 7), (0.9, 0.85, 4.0))  # spacing ratio > 3: nnU-Net resamples z alone, nearest
ORIENTATIONS = {
    "axial": np.eye(3),
    "oblique1": rotation((15, 0, 0)),
    "oblique2": rotation((15, 20, 0)),
    "oblique3": rotation((12, -18, 25)),
    "flipped": np.diag([-1.0, 1.0, 1.0]),  # left-handed
    "flipped_oblique": rotation((0, 10, 20)) @ np.diag([1.0, -1.0, 1.0]),  # left-handed and oblique
}


def geometries():
    """The matrix: (name, suffix, size, spacing, direction) for NIfTI and NRRD x 6 orientations x 2 spacings."""
    out = []
    for suffix in (".nii.gz", ".nrrd"):
        for oname, matrix in ORIENTATIONS.items():
            for sname, (size, spacing) in (("iso", ISO), ("aniso", ANISO)):
                out.append(
                    (
                        f"{suffix.strip('.').split('.')[0]}-{oname}-{sname}",
                        suffix,
                        size,
                        spacing,
                        tuple(np.asarray(matrix, float).ravel()),
                    )
                )
    return out


def write_scan(folder: Path, geometry, seed: int = 0):
    """One matrix geometry written as a file in ``folder`` -> (its path, the lesion's truth array (k, j, i))."""
    name, suffix, size, spacing, direction = geometry
    image, truth = scan(size, spacing, direction, origin=SCAN_CENTRE, lesion_ras=LESION_RAS, seed=seed)
    path = Path(folder) / f"{name}{suffix}"
    sitk.WriteImage(image, str(path))
    return path, sitk.GetArrayFromImage(truth)
