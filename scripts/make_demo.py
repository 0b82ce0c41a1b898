#!/usr/bin/env python
"""Make the embedded demo: synthetic CT-like data, a small 3D lesion classifier, its files and one sample.

Deterministic on CPU (fixed seeds, ``torch.use_deterministic_algorithms``); a few minutes at most.
Writes into ``Resources/Samples/`` (or ``--output-dir``):

- ``lesion_classifier.pt``    state dict of ``SaliencyExplorerLib.demo.network.LesionNet``
- ``lesion_classifier.json``  its model card (architecture, classes, input grid, target layer)
- ``lesion_classifier.pt2``   the same network as a self-contained ``torch.export`` program
- ``sample_ct.nrrd``          one oblique, anisotropic CT-like volume with a lesion (int16 HU)
- ``sample_ct.json``          where its lesion is (LPS and RAS mm, radius) and how it was made
- ``sample_lesion.nrrd``      the lesion as a label volume on the sample's grid (for compare/evaluate)
- ``training_report.json``    data sizes, epochs, held-out accuracy

    python scripts/make_demo.py [--output-dir DIR] [--train 480] [--test 160] [--epochs 12]
    python scripts/make_demo.py --lesion-only     # only sample_lesion.nrrd, from sample_ct.json (seconds)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from SaliencyExplorerLib.demo.data import DEMO_CARD, SAMPLE_LESION, model_tensors, sample_lesion_mask
from SaliencyExplorerLib.demo.network import LesionNet
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from torch import nn

REPO = Path(__file__).resolve().parents[1]
TRAIN_SEED, TEST_SEED = 1000, 2000

# The shipped sample: oblique about two axes (+ a little about the third), anisotropic, lesion off-centre.
SAMPLE = {
    "size": [112, 112, 32],
    "spacing": [0.9, 0.9, 3.0],
    "rotation_deg_about_xyz": [20.0, -15.0, 8.0],
    "lesion_offset_along_ijk_mm": [18.0, -12.0, 10.0],
    "lesion_radius_mm": 9.0,
    "lesion_hu": 150.0,
    "noise_hu": 15.0,
    "seed": 7,
}


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 32]).argmax(1) for i in range(0, len(x), 32)])
    return float((pred == y).float().mean())


def train(x, y, epochs: int, log) -> LesionNet:
    torch.manual_seed(0)
    model = LesionNet(**DEMO_CARD["architecture"]["kwargs"])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    order_gen = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=order_gen)
        total = 0.0
        for start in range(0, len(x), 16):
            idx = order[start : start + 16]
            batch = x[idx]
            # flips are label-preserving: more varied lesion positions for free
            for axis in (2, 3, 4):
                if torch.rand((), generator=order_gen) < 0.5:
                    batch = batch.flip(axis)
            optimiser.zero_grad()
            loss = loss_fn(model(batch), y[idx])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        log(f"epoch {epoch + 1:2d}/{epochs}: loss {total / len(x):.4f}, train accuracy {accuracy(model, x, y):.3f}")
    return model.eval()


def make_sample(out: Path) -> dict:
    """The shipped volume, and the ground truth a user (and the tests) can check the heatmap against."""
    direction = rotation_direction(tuple(SAMPLE["rotation_deg_about_xyz"]))
    d = np.asarray(direction).reshape(3, 3)
    center_lps = d @ np.asarray(SAMPLE["lesion_offset_along_ijk_mm"])  # the phantom is centred on 0
    image, mask = make_phantom(
        size=SAMPLE["size"],
        spacing=SAMPLE["spacing"],
        direction=direction,
        lesion_center_lps=center_lps,
        lesion_radius_mm=SAMPLE["lesion_radius_mm"],
        seed=SAMPLE["seed"],
        noise_hu=SAMPLE["noise_hu"],
        lesion_hu=SAMPLE["lesion_hu"],
    )
    hu = sitk.Cast(sitk.Round(image), sitk.sitkInt16)
    sitk.WriteImage(hu, str(out / "sample_ct.nrrd"), useCompression=True)
    info = {
        "file": "sample_ct.nrrd",
        "label": "lesion",
        "lesion_center_lps_mm": [round(float(v), 4) for v in center_lps],
        "lesion_center_ras_mm": [round(float(v), 4) for v in center_lps * np.array([-1.0, -1.0, 1.0])],
        "lesion_radius_mm": SAMPLE["lesion_radius_mm"],
        "lesion_voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
        "geometry": {
            "size": list(hu.GetSize()),
            "spacing": list(hu.GetSpacing()),
            "origin": [round(v, 6) for v in hu.GetOrigin()],
            "direction": [round(v, 9) for v in hu.GetDirection()],
        },
        "made_by": "scripts/make_demo.py with SaliencyExplorerLib.demo.phantoms.make_phantom",
        "parameters": SAMPLE,
    }
    (out / "sample_ct.json").write_text(json.dumps(info, indent=2) + "\n")
    write_lesion(out)
    return info


def write_lesion(out: Path) -> Path:
    """The sample's lesion mask, from sample_ct.json's centre and radius on the sample's own grid."""
    path = out / SAMPLE_LESION
    sitk.WriteImage(sample_lesion_mask(out), str(path), useCompression=True)
    return path


def export_program(model: LesionNet, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=256)
    example = torch.zeros(2, 1, *DEMO_CARD["input"]["size"])
    torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({0: batch},)), str(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "Resources" / "Samples")
    parser.add_argument("--train", type=int, default=480)
    parser.add_argument("--test", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--lesion-only", action="store_true", help="only write sample_lesion.nrrd from the sample_ct.json already there"
    )
    args = parser.parse_args(argv)
    if args.lesion_only:
        print(write_lesion(args.output_dir))
        return 0
    torch.use_deterministic_algorithms(True)
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:6.1f}s] {msg}", flush=True)

    x_train, y_train = model_tensors(args.train, TRAIN_SEED)
    x_test, y_test = model_tensors(args.test, TEST_SEED)
    log(f"data: {len(x_train)} training and {len(x_test)} held-out cases of shape {tuple(x_train.shape[1:])}")
    model = train(x_train, y_train, args.epochs, log)
    test_acc = accuracy(model, x_test, y_test)
    log(f"held-out accuracy: {test_acc:.3f} on {len(x_test)} cases")

    torch.save(model.state_dict(), out / "lesion_classifier.pt")
    (out / "lesion_classifier.json").write_text(json.dumps(DEMO_CARD, indent=2) + "\n")
    export_program(model, out / "lesion_classifier.pt2")
    sample = make_sample(out)
    report = {
        "train_cases": len(x_train),
        "train_seed": TRAIN_SEED,
        "test_cases": len(x_test),
        "test_seed": TEST_SEED,
        "epochs": args.epochs,
        "held_out_accuracy": round(test_acc, 4),
        "train_accuracy": round(accuracy(model, x_train, y_train), 4),
        "seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
    }
    (out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(
        f"wrote {', '.join(sorted(p.name for p in out.iterdir()))}; sample lesion at RAS "
        f"{sample['lesion_center_ras_mm']} mm, radius {sample['lesion_radius_mm']} mm"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
