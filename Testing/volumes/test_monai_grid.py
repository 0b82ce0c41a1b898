"""MONAI's grid, exactly: on 48 geometries (NRRD float64/float32, NIfTI sform/qform; axis-aligned and oblique
about 1, 2 and 3 axes; anisotropic; flipped and left-handed; odd/even sizes; a size that is a tie before
MONAI's rounding) the tool's model input and grid equal MONAI's own LoadImaged + EnsureChannelFirstd +
Orientationd + Spacingd + ScaleIntensityRanged (the input to the bit), and its prediction on the scan's own grid equals MONAI's
SlidingWindowInferer + softmax + Invertd + argmax (helpers/monai_matrix.py; the table:
benchmarks/bench_monai_geometry.py)."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("monai")
pytest.importorskip("nibabel")

from helpers import monai_matrix as mm  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.models.monai_bundle import derive_card  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import to_model  # noqa: E402
from SaliencyExplorerLib.volumes.image_files import read_image  # noqa: E402

CASES = mm.cases()


@pytest.fixture(scope="module")
def card():
    return derive_card(mm.CONFIG, {"name": "matrix"}, Path("/bundle/configs/inference.json"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monai_matrix")
    return {case.name: mm.write(case, folder) for case in CASES}


def test_the_matrix_covers_what_monai_decides_by_its_last_bits(files):
    """Both of compute_shape_offset's placements (first voxel, centred) and both roundings of a tied size occur."""
    placements, sizes = set(), set()
    for case in CASES:
        theirs, affine, _, _ = mm.monai_preprocessed(files[case.name])
        first = np.allclose(affine[:3, 3], _first_voxel_ras(files[case.name]), atol=1e-6)
        placements.add(first)
        if case.name.endswith("-c"):
            sizes.add(theirs.shape[1])
    assert len(CASES) >= 24 and placements == {True, False} and sizes == {12, 13}


def _first_voxel_ras(path):
    from monai.transforms import EnsureChannelFirst, LoadImage, Orientation

    img = Orientation(axcodes="RAS", labels=None)(EnsureChannelFirst()(LoadImage(image_only=True)(str(path))))
    return np.asarray(img.affine)[:3, 3]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_model_input_and_grid_equal_monai_transforms(case, card, files):
    theirs, affine, _, _ = mm.monai_preprocessed(files[case.name])
    model_input = to_model(read_image(files[case.name]), card)
    ours = model_input.tensor[0].numpy()
    assert ours.shape == theirs.shape
    assert np.abs(mm.ras_affine(model_input.grid) - affine).max() < 1e-9
    assert np.array_equal(ours, theirs)  # to the bit: volumes/monai_resampling.py


VARIANTS = [  # (pixdim, padding_mode, Orientationd): a target spacing within MONAI's 1e-3 of the native one
    ((2.0, 1.5, 3.0), "zeros", True),
    ((2.0, 1.5, 3.0), "border", False),
    ((1.7, 0.0, 3.0), "zeros", False),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[1]}-{'RAS' if v[2] else 'own-axes'}-{v[0]}")
@pytest.mark.parametrize("case", CASES[2::5], ids=lambda c: c.name)
def test_spacing_variants_equal_monai(case, variant, files):
    """padding_mode "zeros" (the half voxel past the edge blends towards 0, as torch's grid_sample does),
    Spacingd without Orientationd, a pixdim of 0 (keep the native spacing) and targets equal to the native
    spacing up to float32 (MONAI keeps the native value then)."""
    pixdim, padding, orientation = variant
    theirs, affine, _, _ = mm.monai_preprocessed(files[case.name], None, pixdim, padding, orientation)
    card = derive_card(mm.config(pixdim, padding, orientation), {"name": "v"}, Path("/bundle/configs/inference.json"))
    model_input = to_model(read_image(files[case.name]), card)
    assert model_input.tensor.shape[1:] == theirs.shape
    assert np.abs(mm.ras_affine(model_input.grid) - affine).max() < 1e-9
    assert np.array_equal(model_input.tensor[0].numpy(), theirs)


@pytest.mark.parametrize("case", CASES[1::3] + CASES[2::6], ids=lambda c: c.name)
def test_prediction_on_the_scan_equals_monai_invertd(case, card, files):
    net = mm.MeanThreshold().eval()
    theirs = mm.monai_labels(files[case.name], net)
    result = explain_image(read_image(files[case.name]), net, card=card, method="saliency")
    ours = sitk.GetArrayFromImage(result.prediction_image).transpose(2, 1, 0)
    assert ours.shape == theirs.shape and theirs.sum() > 500
    assert float(np.mean(ours == theirs)) >= 0.995
    assert mm.dice(ours, theirs) >= 0.95


@pytest.mark.parametrize("name", ["nrrd-3ax-b", "nrrd32-2ax-a"])
def test_card_reader_itk_is_loadimage_itkreader(name, tmp_path, card):
    """A card with ``input.reader: "itk"`` (a bundle's LoadImaged(reader="ITKReader")) takes ITK's affine for a
    NRRD file even where pynrrd's header affine is at hand: MONAI's grid and input with that reader, exactly."""
    from dataclasses import replace

    pytest.importorskip("itk")
    case = next(c for c in CASES if c.name == name)
    path = mm.write(case, tmp_path)
    theirs, affine, _, _ = mm.monai_preprocessed(path, "ITKReader")
    default, default_affine, _, _ = mm.monai_preprocessed(path)
    ours = to_model(read_image(path), replace(card, input=replace(card.input, reader="itk")))
    assert tuple(ours.tensor.shape[1:]) == theirs.shape
    assert np.abs(mm.ras_affine(ours.grid) - affine).max() < 1e-9
    assert np.array_equal(ours.tensor[0].numpy(), theirs)
    assert (
        default.shape != theirs.shape
        or np.abs(default_affine - affine).max() > 0
        or not np.array_equal(default, theirs)
    )  # the reader matters on this file


@pytest.mark.parametrize("name", ["nrrd-3ax-b", "nrrd32-2ax-a"])
def test_itk_reader_grid_on_oblique_nrrd(name, tmp_path, card):
    """MONAI's ITKReader (LoadImage's pick without pynrrd) builds its affine as ITK's direction x spacing: the
    grid the tool computes from an image without a file affine (a Slicer node; here the header dropped)."""
    pytest.importorskip("itk")
    case = next(c for c in CASES if c.name == name)
    path = mm.write(case, tmp_path)
    theirs, affine, _, _ = mm.monai_preprocessed(path, "ITKReader")
    image = read_image(path)
    for key in image.GetMetaDataKeys():
        if key.startswith("SaliencyExplorer"):
            image.EraseMetaData(key)
    ours = to_model(image, card)
    assert tuple(ours.tensor.shape[1:]) == theirs.shape
    assert np.abs(mm.ras_affine(ours.grid) - affine).max() < 1e-9
    assert np.array_equal(ours.tensor[0].numpy(), theirs)
