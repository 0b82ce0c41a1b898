"""Synthetic CT-like cases for the demo model: random oblique, anisotropic phantoms, with or without a lesion.

Why a library module: the script that trains the shipped model (``scripts/make_demo.py``) and the test
that re-checks its accuracy claim on fresh held-out cases (``Testing/demo/test_network_accuracy.py``) must draw
cases the same way, and both send them through the same preprocessing as real use (``geometry.to_model``
with the demo card), so the model is trained on exactly what it sees when explaining.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..card import load_card
from ..volumes.geometry import to_model
from .job import samples_dir
from .phantoms import make_phantom, rotation_direction, voxel_points_lps

#: The sample's lesion as a label volume (1 inside), beside sample_ct.nrrd: the region `compare` and
#: `evaluate` score localisation against (made by scripts/make_demo.py from sample_ct.json).
SAMPLE_LESION = "sample_lesion.nrrd"

DEMO_CARD = {
    "name": "Demo lesion classifier",
    "description": "Lesion / no lesion on synthetic CT-like phantoms; made by scripts/make_demo.py.",
    "task": "classification",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["no lesion", "lesion"],
    "input": {
        "orientation": "RAS",
        "array_order": "xyz",
        "spacing": [4.0, 4.0, 4.0],
        "size": [32, 32, 32],
        "center": "image",
        "intensity": {"type": "window", "min": -50, "max": 250},
    },
    "output": {"activation": "softmax"},
    "target_layer": "features.block3",
    "architecture": {
        "class": "SaliencyExplorerLib.demo.network.LesionNet",
        "kwargs": {"in_channels": 1, "num_classes": 2, "width": 8},
    },
    "weights": "lesion_classifier.pt",
}


def random_case(rng: np.random.Generator, lesion: bool):
    """One phantom in a random native geometry: (sitk image, lesion mask, lesion centre LPS or None, radius)."""
    size = (int(rng.integers(48, 65)), int(rng.integers(48, 65)), int(rng.integers(14, 25)))
    spacing = (float(rng.uniform(1.6, 2.2)), float(rng.uniform(1.6, 2.2)), float(rng.uniform(3.0, 5.0)))
    angles = rng.uniform(-30, 30, size=3) * np.array([1.0, 1.0, 0.5])
    direction = rotation_direction(tuple(angles))
    d = np.asarray(direction).reshape(3, 3)
    semi = 0.42 * np.asarray(size) * np.asarray(spacing)
    radius = float(rng.uniform(4.5, 11.0))
    center = None
    if lesion:
        unit = rng.normal(size=3)
        unit /= np.linalg.norm(unit)
        local = unit * rng.uniform(0.0, 0.55) * np.maximum(semi - radius, 1.0)
        center = d @ local  # the grid is centred on the physical origin by make_phantom
    image, mask = make_phantom(
        size=size,
        spacing=spacing,
        direction=direction,
        lesion_center_lps=center,
        lesion_radius_mm=radius,
        seed=int(rng.integers(0, 2**31 - 1)),
        noise_hu=float(rng.uniform(8.0, 30.0)),
        body_fraction=float(rng.uniform(0.36, 0.45)),
        lesion_hu=float(rng.uniform(85.0, 200.0)) if lesion else None,
    )
    return image, mask, center, radius


def model_tensors(count: int, seed: int):
    """``count`` cases (half with a lesion) as the demo model's input: (x (N,1,32,32,32), labels (N,))."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    card = load_card(DEMO_CARD)
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    rng.shuffle(labels)
    xs = [to_model([random_case(rng, bool(label))[0]], card).tensor for label in labels]
    return torch.cat(xs), torch.as_tensor(labels, dtype=torch.long)


def lesion_mask(reference: sitk.Image, center_lps, radius_mm: float) -> sitk.Image:
    """uint8 label image on ``reference``'s grid: 1 where a voxel's centre lies within ``radius_mm`` of
    ``center_lps`` (the sphere ``make_phantom`` draws), 0 elsewhere."""
    points = voxel_points_lps(
        reference.GetSize(), reference.GetSpacing(), reference.GetOrigin(), reference.GetDirection()
    )
    inside = np.linalg.norm(points - np.asarray(center_lps, dtype=float), axis=-1) <= float(radius_mm)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def sample_lesion_mask(folder=None) -> sitk.Image:
    """The shipped sample's lesion mask, made from ``sample_ct.json`` (centre, radius) on the sample's grid."""
    folder = Path(folder) if folder else samples_dir()
    info = json.loads((folder / "sample_ct.json").read_text())
    reference = sitk.ReadImage(str(folder / info["file"]))
    return lesion_mask(reference, info["lesion_center_lps_mm"], info["lesion_radius_mm"])


def sample_lesion_path(folder=None) -> Path:
    """Where the shipped lesion mask is (``Resources/Samples/sample_lesion.nrrd``)."""
    return (Path(folder) if folder else samples_dir()) / SAMPLE_LESION
