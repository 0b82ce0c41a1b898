"""MONAI's resampling arithmetic, to the bit: on the geometry matrix (NRRD float64/float32, NIfTI sform/qform;
axis-aligned and oblique about 1-3 axes; anisotropic; flipped) the tool's model input equals MONAI's own
LoadImaged + EnsureChannelFirstd + Orientationd + Spacingd (+ NormalizeIntensityd(nonzero=True)) exactly,
including the ~1e-13 MONAI leaves in air next to tissue, so the non-zero masks agree voxel for voxel."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("monai")
pytest.importorskip("nibabel")

from helpers import monai_matrix as mm  # noqa: E402
from SaliencyExplorerLib.card import parse_card  # noqa: E402
from SaliencyExplorerLib.models.monai_bundle import derive_card  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import to_model  # noqa: E402
from SaliencyExplorerLib.volumes.image_files import read_image  # noqa: E402
from SaliencyExplorerLib.volumes.resampling import resample_to_grid  # noqa: E402

CASES = mm.cases()
BUNDLE = Path("/bundle/configs/inference.json")


def monai_input(path, *, pixdim=(mm.PIXDIM,) * 3, mode="bilinear", padding="border", orientation=True, nonzero=True):
    """MONAI's transforms on the file: (Spacingd's output, after NormalizeIntensityd(nonzero) when asked), (C, i, j, k)."""
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, NormalizeIntensityd, Orientationd, Spacingd

    steps = [LoadImaged(keys="image"), EnsureChannelFirstd(keys="image")]
    steps += [Orientationd(keys="image", axcodes="RAS", labels=None)] if orientation else []
    steps += [Spacingd(keys="image", pixdim=list(pixdim), mode=mode, padding_mode=padding)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spaced = Compose(steps)({"image": str(path)})["image"]  # a MetaTensor: NormalizeIntensity's torch branch
        if not nonzero:
            return np.asarray(spaced), None
        normalised = NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True)({"image": spaced.clone()})
    return np.asarray(spaced), np.asarray(normalised["image"])


def bundle_card(pixdim=(mm.PIXDIM,) * 3, mode="bilinear", padding="border", orientation=True, nonzero=True):
    """The tool's card for that pipeline, as its bundle importer derives it."""
    config = mm.config(pixdim, padding, orientation)
    steps = config["preprocessing"]["transforms"]
    spacing = next(s for s in steps if s["_target_"] == "Spacingd")
    spacing["mode"] = mode
    scale = next(n for n, s in enumerate(steps) if s["_target_"] == "ScaleIntensityRanged")
    if nonzero:
        steps[scale] = {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True, "channel_wise": True}
    else:
        del steps[scale]
    return derive_card(config, {"name": "resampling"}, BUNDLE)


@pytest.fixture(scope="module")
def air_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monai_air")
    return {case.name: mm.write(case, folder, mm.in_air(case)) for case in CASES}


@pytest.mark.parametrize("case", CASES[::2], ids=lambda c: c.name)
def test_nonzero_zscore_input_equals_monai_bit_for_bit_with_its_residues_in_air(case, air_files):
    """A head in air: Spacingd leaves tiny non-zeros next to tissue; the tool's input equals MONAI's after
    NormalizeIntensityd(nonzero=True) to the bit, so both z-score the same voxels with the same statistics."""
    path = air_files[case.name]
    spaced, theirs = monai_input(path)
    ours = to_model(read_image(path), bundle_card()).tensor[0].numpy()
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)
    assert np.array_equal(ours != 0, spaced != 0)
    assert 0.05 < float(np.mean(spaced == 0)) < 0.95  # there is air and tissue on the grid


def test_the_air_cases_hold_monais_residues_that_exact_interpolation_does_not(air_files):
    """The point of the above: on oblique cases MONAI's float arithmetic leaves |x| < 1e-9 at voxels whose
    exact interpolation is 0 (resampled through physical space, SimpleITK): those the z-score would miss."""
    card = bundle_card(nonzero=False)
    residues, missed = 0, 0
    for case in CASES[::2]:
        path = air_files[case.name]
        spaced, _ = monai_input(path, nonzero=False)
        image = read_image(path)
        model_input = to_model(image, card)
        ours = model_input.tensor[0, 0].numpy()
        assert np.array_equal(ours, spaced[0])
        tiny = (spaced[0] != 0) & (np.abs(spaced[0]) < 1e-9)
        exact = resample_to_grid(image, model_input.grid, background="edge").transpose(2, 1, 0)
        residues += int(tiny.sum())
        missed += int((tiny & (exact == 0)).sum())
    assert residues > 100 and missed > 0.5 * residues


MODES = [  # (mode, padding_mode, Orientationd, pixdim): both grid_sample modes, both paddings, with and without
    ("nearest", "border", True, (2.0, 2.0, 2.0)),
    ("nearest", "zeros", False, (1.7, 0.0, 3.0)),
    ("bilinear", "zeros", True, (2.0, 1.5, 3.0)),
    ("bilinear", "border", False, (1.2, 1.6, 2.2)),
]


@pytest.mark.parametrize("variant", MODES, ids=lambda v: f"{v[0]}-{v[1]}-{'RAS' if v[2] else 'own-axes'}-{v[3]}")
@pytest.mark.parametrize("case", CASES[1::4], ids=lambda c: c.name)
def test_modes_and_paddings_equal_monai_bit_for_bit(case, variant, air_files):
    mode, padding, orientation, pixdim = variant
    path = air_files[case.name]
    spaced, theirs = monai_input(path, pixdim=pixdim, mode=mode, padding=padding, orientation=orientation)
    card = bundle_card(pixdim, mode, padding, orientation)
    assert card.input.interpolation == ("nearest" if mode == "nearest" else "linear")
    ours = to_model(read_image(path), card).tensor[0].numpy()
    assert np.array_equal(ours, theirs) and np.array_equal(ours != 0, spaced != 0)


INTENSITY = [  # MONAI's intensity transforms the bundle importer maps, after Spacingd, as a bundle writes them
    ("NormalizeIntensityd", {}),
    ("NormalizeIntensityd", {"nonzero": True}),
    ("ScaleIntensityd", {"minv": 0.0, "maxv": 1.0}),
    ("ScaleIntensityRanged", {"a_min": 0, "a_max": 100, "b_min": 0.0, "b_max": 1.0, "clip": True}),
    ("ScaleIntensityRangePercentilesd", {"lower": 1, "upper": 99, "b_min": 0.0, "b_max": 1.0, "clip": True}),
    ("ClipIntensityPercentilesd", {"lower": 1, "upper": 99}),
]


@pytest.mark.parametrize("step", INTENSITY, ids=lambda s: s[0] + ("-nonzero" if s[1].get("nonzero") else ""))
@pytest.mark.parametrize("case", CASES[::6], ids=lambda c: c.name)
def test_intensity_steps_after_spacing_equal_monai_bit_for_bit(case, step, air_files):
    """Each intensity step on MONAI's grid equals MONAI's to the bit (a z-score: torch's float32 statistics
    over MONAI's axis order, which depend on torch's thread count: both sides run with the same here)."""
    import monai.transforms as mt
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd, Spacingd

    name, args = step
    path = air_files[case.name]
    config = mm.config()
    config["preprocessing"]["transforms"][4] = {"_target_": name, "keys": "image", **args}
    card = derive_card(config, {"name": "intensity"}, BUNDLE)
    monai = Compose(
        [
            LoadImaged(keys="image"),
            EnsureChannelFirstd(keys="image"),
            Orientationd(keys="image", axcodes="RAS", labels=None),
            Spacingd(keys="image", pixdim=[mm.PIXDIM] * 3),
            getattr(mt, name)(keys="image", **args),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(monai({"image": str(path)})["image"])
    assert np.array_equal(to_model(read_image(path), card).tensor[0].numpy(), theirs)


def test_no_resampling_where_monai_copies_the_values(tmp_path):
    """Spacingd on a grid it keeps (the target within 1e-3 of the native spacing, the first voxel kept):
    MONAI copies the values without resampling (float32), and so does the tool."""
    case = mm.Case("copy", "nii", (0, 0, 0), (2.0, 2.0005, 2.0), (20, 18, 16))  # i, j run to L, P
    path = mm.write(case, tmp_path)
    spaced, _ = monai_input(path, nonzero=False)
    ours = to_model(read_image(path), bundle_card(nonzero=False)).tensor[0].numpy()
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).transpose(2, 1, 0)[::-1, ::-1]  # RAS: i, j flipped
    assert np.array_equal(spaced[0], raw) and np.array_equal(ours[0], raw)


def test_values_normalised_before_spacing_resample_on_the_files_affine(tmp_path):
    """NormalizeIntensityd before Spacingd (the card's intensity_on "native"): the normalised copy has lost
    the file's float32 affine; the tool still samples it through the file's, as MONAI does, bit for bit."""
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, NormalizeIntensityd, Orientationd, Spacingd

    case = next(c for c in CASES if c.name == "nrrd32-3ax-a")
    path = mm.write(case, tmp_path, mm.in_air(case))
    config = mm.config()
    steps = config["preprocessing"]["transforms"]
    steps[4] = {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True}
    steps.insert(3, steps.pop(4))  # before Spacingd
    card = derive_card(config, {"name": "native"}, BUNDLE)
    assert card.input.intensity_on == "native"
    monai = Compose(
        [
            LoadImaged(keys="image"),
            EnsureChannelFirstd(keys="image"),
            Orientationd(keys="image", axcodes="RAS", labels=None),
            NormalizeIntensityd(keys="image", nonzero=True),
            Spacingd(keys="image", pixdim=[mm.PIXDIM] * 3),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(monai({"image": str(path)})["image"])
    ours = to_model(read_image(path), card).tensor[0].numpy()
    assert np.array_equal(ours, theirs)


def test_a_constant_background_other_than_zero_blends_towards_it():
    """A hand-written MONAI-grid card with background 4 (MONAI pads only 0 or the edge): past the volume the
    input is 4, inside it the volume's 10, and half a voxel past the edge the mean (7), as torch's "zeros"."""
    image = sitk.Image([6, 6, 6], sitk.sitkFloat32) + 10.0
    image.SetSpacing((2.0, 2.0, 2.0))
    card = parse_card(
        {
            "input": {
                "orientation": "RAS",
                "reorient": "axes",
                "spacing": [1.0, 1.0, 1.0],
                "size": [16, 16, 16],
                "fit": "first_voxel",
                "background": 4.0,
            }
        }
    )
    ours = to_model(image, card).tensor[0, 0].numpy()  # i runs to R: index 0 is the volume's last i voxel
    assert np.allclose(ours[:11, :11, :11], 10.0, rtol=0, atol=1e-6)
    assert ours[-1, -1, -1] == pytest.approx(4.0)
    assert ours[5, 5, 11] == pytest.approx(7.0)  # k = 11 mm: half a native voxel (1 mm) past the last centre (10 mm)
