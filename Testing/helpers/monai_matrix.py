"""A matrix of scan geometries, each written as MONAI would meet it, and MONAI's own pipeline on it.

Used by Testing/volumes/test_monai_grid.py and benchmarks/bench_monai_geometry.py. A case is a small
volume (20-40 voxels per axis) with a sphere lesion at a known RAS point, stored as:

- ``nrrd``: SimpleITK's NRRD (directions printed to 17 digits: a float64 affine);
- ``nrrd32``: a NRRD whose space directions and origin are float32 numbers (as tools writing 7 digits do);
- ``nii``: SimpleITK's NIfTI (nibabel reads its float32 sform);
- ``nii_qform``: a NIfTI with only a qform (nibabel builds a float64 affine from the quaternion).

MONAI's side is MONAI's own transforms, exactly as a bundle chains them: LoadImaged (the reader it picks,
or the one named) + EnsureChannelFirstd + Orientationd(RAS) + Spacingd(2 mm, bilinear, border) +
ScaleIntensityRanged; then SlidingWindowInferer, softmax, Invertd (bilinear) and argmax, as a bundle's
postprocessing does. The network is a fixed 3x3x3 mean filter with a threshold: its lesion is where the
smoothed intensity passes 0.5, so a Dice against the known sphere means something.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

PIXDIM = 2.0
ROI = 16
LESION_RAS = np.array([3.0, -4.0, 6.0])
LESION_RADIUS = 9.0
PREPROCESSING = [
    {"_target_": "LoadImaged", "keys": "image"},
    {"_target_": "EnsureChannelFirstd", "keys": "image"},
    {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
    {"_target_": "Spacingd", "keys": "image", "pixdim": [PIXDIM] * 3, "mode": "bilinear"},
    {
        "_target_": "ScaleIntensityRanged",
        "keys": "image",
        "a_min": 0,
        "a_max": 100,
        "b_min": 0.0,
        "b_max": 1.0,
        "clip": True,
    },
    {"_target_": "EnsureTyped", "keys": "image"},
]
CONFIG = {
    "preprocessing": {"_target_": "Compose", "transforms": PREPROCESSING},
    "network_def": {"_target_": "UNet", "spatial_dims": 3, "in_channels": 1, "out_channels": 2},
    "inferer": {
        "_target_": "SlidingWindowInferer",
        "roi_size": [ROI] * 3,
        "sw_batch_size": 2,
        "overlap": 0.5,
        "mode": "gaussian",
    },
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [{"_target_": "Activationsd", "keys": "pred", "softmax": True}],
    },
}


@dataclass(frozen=True)
class Case:
    name: str
    store: str  # nrrd | nrrd32 | nii | nii_qform
    angles: tuple  # degrees about the L, P, S axes (0 = not oblique about that axis)
    spacing: tuple
    size: tuple
    flip: tuple = (1, 1, 1)  # sign per image axis (-1: that axis runs the other way; odd count: left-handed)
    reader: str | None = None  # MONAI reader by name; None: the one LoadImage picks

    @property
    def suffix(self):
        return ".nrrd" if self.store.startswith("nrrd") else ".nii.gz"


def rotation(angles) -> np.ndarray:
    out = np.eye(3)
    for axis, deg in enumerate(angles):
        if deg:
            t = np.deg2rad(deg)
            c, s = np.cos(t), np.sin(t)
            a, b = [(1, 2), (0, 2), (0, 1)][axis]
            r = np.eye(3)
            r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
            out = r @ out
    return out


def cases() -> list[Case]:
    """48 geometries: 4 stores x (axis-aligned, oblique about 1, 2 and 3 axes) x 3 variants."""
    obliquity = [(0, 0, 0), (0, 0, 15), (20, 15, 0), (10, -20, 25)]
    variants = [
        dict(spacing=(0.9, 1.3, 2.5), size=(34, 27, 20), flip=(1, 1, 1)),
        dict(spacing=(1.5, 0.7, 1.9), size=(24, 40, 23), flip=(-1, 1, -1)),
        # (24 - 1) x 1 mm / 2 mm + 1 = 12.5: MONAI's round() of that sum decides the size by its last bits
        dict(spacing=(1.0, 1.1, 3.0), size=(24, 30, 17), flip=(1, -1, 1)),
    ]
    out = []
    for store in ("nrrd", "nrrd32", "nii", "nii_qform"):
        for angles in obliquity:
            for n, var in enumerate(variants):
                out.append(
                    Case(
                        f"{store}-{sum(1 for a in angles if a)}ax-{'abc'[n]}",
                        store,
                        angles,
                        var["spacing"],
                        var["size"],
                        var["flip"],
                    )
                )
    return out


def itk_cases() -> list[Case]:
    """The NRRD cases once more through MONAI's ITKReader (LoadImage's choice when pynrrd is absent)."""
    return [
        Case(c.name.replace("nrrd", "nrrd-itk"), c.store, c.angles, c.spacing, c.size, c.flip, "ITKReader")
        for c in cases()
        if c.store.startswith("nrrd") and any(c.angles)
    ]


def image(case: Case) -> sitk.Image:
    """The case's volume (LPS, SimpleITK): smooth background 15-45, the lesion sphere at 90."""
    direction = rotation(case.angles) @ np.diag(np.asarray(case.flip, float))
    lesion_lps = LESION_RAS * np.array([-1.0, -1.0, 1.0])
    extent = (np.asarray(case.size) - 1) * np.asarray(case.spacing)
    origin = lesion_lps - direction @ (extent * np.array([0.45, 0.55, 0.5]))  # lesion well inside, off-centre
    img = sitk.Image([int(n) for n in case.size], sitk.sitkFloat32)
    img.SetSpacing([float(s) for s in case.spacing])
    img.SetDirection([float(v) for v in direction.ravel()])
    img.SetOrigin([float(v) for v in origin])
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in case.size], indexing="ij"), -1).reshape(-1, 3)
    points = origin + (idx * np.asarray(case.spacing)) @ direction.T
    value = 30 + 8 * np.sin(points[:, 0] / 6.0) + 7 * np.cos(points[:, 1] / 5.0) * np.sin(points[:, 2] / 8.0)
    value[np.linalg.norm(points - lesion_lps, axis=1) <= LESION_RADIUS] = 90.0
    out = sitk.GetImageFromArray(value.reshape(case.size).transpose(2, 1, 0).astype(np.float32))
    out.CopyInformation(img)
    return out


def write(case: Case, folder: Path, img: sitk.Image | None = None) -> Path:
    """The case's volume (or ``img``, on the case's grid) stored as the case says."""
    path = Path(folder) / f"{case.name}{case.suffix}"
    img = image(case) if img is None else img
    if case.store in ("nrrd", "nii"):
        sitk.WriteImage(img, str(path))
    elif case.store == "nrrd32":
        _write_nrrd32(img, path)
    else:
        import nibabel as nib

        affine = np.eye(4)
        lps = np.asarray(img.GetDirection()).reshape(3, 3) @ np.diag(img.GetSpacing())
        affine[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ lps
        affine[:3, 3] = np.asarray(img.GetOrigin()) * np.array([-1.0, -1.0, 1.0])
        nii = nib.Nifti1Image(sitk.GetArrayFromImage(img).transpose(2, 1, 0), None)
        nii.set_qform(affine, code=1)
        nii.set_sform(None, code=0)
        nib.save(nii, str(path))
    return path


def _write_nrrd32(img: sitk.Image, path: Path) -> None:
    """A NRRD whose header numbers are float32 (7 significant digits), as many writers leave them."""
    vectors = np.asarray(img.GetDirection()).reshape(3, 3) @ np.diag(img.GetSpacing())
    f32 = lambda v: repr(float(np.float32(v)))  # noqa: E731
    directions = " ".join("(" + ",".join(f32(v) for v in vectors[:, a]) + ")" for a in range(3))
    header = (
        "NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {' '.join(str(n) for n in img.GetSize())}\nspace directions: {directions}\n"
        "kinds: domain domain domain\nendian: little\nencoding: raw\n"
        f"space origin: ({','.join(f32(v) for v in img.GetOrigin())})\n\n"
    )
    data = sitk.GetArrayFromImage(img).astype("<f4").tobytes()
    path.write_bytes(header.encode("ascii") + data)


def in_air(case: Case) -> sitk.Image:
    """The case's volume with everything farther than 1.3 lesion radii from the lesion centre exactly 0 (air):
    a head in air, where MONAI's float resampling leaves residues that a non-zero z-score counts."""
    img = image(case)
    direction = np.asarray(img.GetDirection()).reshape(3, 3)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in img.GetSize()], indexing="ij"), -1)  # (i, j, k, 3)
    points = np.asarray(img.GetOrigin()) + (idx * np.asarray(img.GetSpacing())) @ direction.T
    far = np.linalg.norm(points - LESION_RAS * np.array([-1.0, -1.0, 1.0]), axis=-1) > 1.3 * LESION_RADIUS
    values = sitk.GetArrayFromImage(img)
    values[far.transpose(2, 1, 0)] = 0.0
    out = sitk.GetImageFromArray(values)
    out.CopyInformation(img)
    return out


class MeanThreshold(torch.nn.Module):
    """Two logits: 0 and 20 x (3x3x3 mean of the input - 0.5): the lesion is where the smoothed input passes 0.5."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[1] = 20.0 / 27.0
            self.conv.bias.copy_(torch.tensor([0.0, -10.0]))

    def forward(self, x):
        return self.conv(x)


def config(pixdim=(PIXDIM,) * 3, padding_mode="border", orientation=True) -> dict:
    """A bundle config like CONFIG with another Spacingd (pixdim, padding_mode), with or without Orientationd."""
    import copy

    out = copy.deepcopy(CONFIG)
    steps = out["preprocessing"]["transforms"]
    steps[3] = dict(steps[3], pixdim=list(pixdim), padding_mode=padding_mode)
    if not orientation:
        del steps[2]
    return out


def monai_preprocessed(path: Path, reader=None, pixdim=(PIXDIM,) * 3, padding_mode="border", orientation=True):
    """MONAI's model input for the file: (array (C, i, j, k) float32, RAS affine 4x4, the transformed dict)."""
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd, ScaleIntensityRanged, Spacingd

    pre = Compose(
        [LoadImaged(keys="image", reader=reader), EnsureChannelFirstd(keys="image")]
        + ([Orientationd(keys="image", axcodes="RAS", labels=None)] if orientation else [])
        + [
            Spacingd(keys="image", pixdim=list(pixdim), mode="bilinear", padding_mode=padding_mode),
            ScaleIntensityRanged(keys="image", a_min=0, a_max=100, b_min=0.0, b_max=1.0, clip=True),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = pre({"image": str(path)})
    return np.asarray(data["image"]), np.asarray(data["image"].affine, dtype=np.float64), data, pre


def monai_labels(path: Path, network, reader=None) -> np.ndarray:
    """MONAI's label map on the file's own grid, (i, j, k): the bundle pipeline with Invertd (bilinear)."""
    from monai.inferers import SlidingWindowInferer
    from monai.transforms import Activationsd, AsDiscreted, Invertd

    _, _, data, pre = monai_preprocessed(path, reader)
    inferer = SlidingWindowInferer(roi_size=[ROI] * 3, sw_batch_size=2, overlap=0.5, mode="gaussian")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data["pred"] = inferer(data["image"][None], network)[0]
        data = Activationsd(keys="pred", softmax=True)(data)
        data = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=False, to_tensor=True)(data)
        data = AsDiscreted(keys="pred", argmax=True)(data)
    return np.asarray(data["pred"])[0].astype(np.uint8)


def ras_affine(grid) -> np.ndarray:
    """The tool's LPS grid as MONAI's RAS affine."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(grid.direction).reshape(3, 3) @ np.diag(grid.spacing)
    affine[:3, 3] = grid.origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum() + b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total
