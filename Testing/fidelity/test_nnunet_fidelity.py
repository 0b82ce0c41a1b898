"""The tool's nnU-Net prediction equals nnU-Net's own (issue 18), on scans of many geometries.

Model: a tiny nnU-Net v2 lesion network, planned by nnU-Net and trained for 250 steps on synthetic CT-like
spheres (``helpers.nnunet_lesion_fixture.make_lesion_folder``; the folder is stored in ``data/`` because
training takes minutes: regenerate it with that function). Scans: a lesion sphere at a known RAS point,
NIfTI and NRRD, axial, oblique about 1-3 axes, flipped (left-handed), anisotropic (4 mm slices: nnU-Net's
separate-z resampling). Reference: nnUNetPredictor's defaults (Gaussian, step 0.5, test-time mirroring),
its DefaultPreprocessor for the input. A representative subset runs here; SALIENCY_FULL_MATRIX=1 runs all
24, and benchmarks/nnunet_fidelity.py prints the table.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_agreement import compare, dice, ours, predictor, theirs  # noqa: E402
from helpers.nnunet_lesion_fixture import LESION_RAS, geometries, write_scan  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.cli import main  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402

FOLDER = Path(__file__).parent / "data" / "nnunet_lesion" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
SUBSET = {"nrrd-oblique3-aniso", "nii-flipped_oblique-iso", "nrrd-flipped-aniso"}
MATRIX = [g for g in geometries() if os.environ.get("SALIENCY_FULL_MATRIX") or g[0] in SUBSET]


@pytest.fixture(scope="module")
def loaded():
    return load_model(FOLDER)


@pytest.fixture(scope="module")
def reference():
    return predictor(FOLDER), predictor(FOLDER, float64=True)


def _write(tmp_path, geometry, seed=0):
    return write_scan(tmp_path, geometry, seed)


@pytest.mark.parametrize("geometry", MATRIX, ids=[g[0] for g in MATRIX])
def test_prediction_equals_nnunet(geometry, loaded, reference, tmp_path):
    path, truth = _write(tmp_path, geometry)
    row = compare(loaded, *reference, path)
    seg = row.pop("seg")
    row.pop("ref_seg")
    print(f"{geometry[0]}: {row}")
    assert row["input_shape_equal"] and row["input_max_diff"] < 1e-5  # == DefaultPreprocessor.run_case
    assert row["agreement"] >= 0.995 and row["agreement64"] >= 0.9999
    assert row["ref_lesion_voxels"] > 0 and row["lesion_dice"] >= 0.95
    assert row["max_prob_diff64"] < 1e-3  # noise aside (nnU-Net's float16 accumulation), the same numbers
    assert dice(seg, truth) > 0.4  # a meaningful lesion where the scan has it (~0.9; ~0.55 at 4 mm slices)


def test_mirroring_is_what_nnunet_does(loaded, reference, tmp_path):
    """Without test-time mirroring the tool would differ from nnU-Net's default far beyond its float16 noise."""
    path, _ = _write(tmp_path, geometries()[1])
    _, with_tta, _ = ours(loaded, path)
    _, without, model_input = ours(loaded, path, mirroring=False)
    _, ref = theirs(reference[1], path)
    box = (slice(None), *(slice(b0, b1) for b0, b1 in model_input.native_box))
    assert np.abs(with_tta - ref[box]).max() < 1e-3 < np.abs(without - ref[box]).max() / 10


def test_explain_image_prediction_and_mirrored_explanation(loaded, reference, tmp_path):
    """The front door: --prediction-output's image equals nnU-Net's; a gradient method explains the mirrored
    ensemble (no warning), a CAM says it explains the un-mirrored network, disable_tta turns mirroring off."""
    path, _ = _write(tmp_path, geometries()[3])  # NIfTI, oblique about one axis, anisotropic
    image = sitk.ReadImage(str(path))
    ref_seg, _ = theirs(reference[0], path)
    out, heat = tmp_path / "prediction.nrrd", tmp_path / "heat.nrrd"
    assert (
        main(
            [
                "explain",
                "--input",
                str(path),
                "--model",
                str(FOLDER),
                "--target",
                "lesion",
                "--method",
                "saliency",
                "--output",
                str(heat),
                "--prediction-output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert (seg == ref_seg).mean() >= 0.995 and dice(seg, ref_seg) >= 0.95
    result = explain_image(image, FOLDER, method="saliency", target="lesion")
    assert not any("mirror" in w for w in result.warnings)
    assert (sitk.GetArrayFromImage(result.prediction_image) == seg).all()
    peak = np.asarray(result.peak_ras)
    assert np.linalg.norm(peak - LESION_RAS) < 12  # the map's peak is on the lesion (6 mm radius, 4 mm slices)
    cam = explain_image(image, FOLDER, method="gradcam", target="lesion")
    assert any("without test-time mirroring" in w for w in cam.warnings)
    assert (sitk.GetArrayFromImage(cam.prediction_image) == seg).all()
    plain = explain_image(image, FOLDER, method="gradcam", target="lesion", disable_tta=True)
    assert not any("mirror" in w for w in plain.warnings)
    no_tta_seg, _ = theirs(predictor(FOLDER, mirroring=False), path)
    assert (sitk.GetArrayFromImage(plain.prediction_image) == no_tta_seg).mean() >= 0.995


@pytest.mark.parametrize("transpose", [[2, 0, 1], [1, 0, 2]])
def test_transposed_plans_equal_nnunet(transpose, tmp_path):
    """Plans whose transpose_forward permutes the array axes (nnU-Net puts the low-resolution axis first):
    nnU-Net transposes, crops, resizes, predicts, and reverts the transpose; so does the tool."""
    import json
    import shutil

    folder = tmp_path / FOLDER.name
    shutil.copytree(FOLDER, folder)
    plans = json.loads((folder / "plans.json").read_text())
    plans["transpose_forward"] = transpose
    plans["transpose_backward"] = [int(a) for a in np.argsort(transpose)]
    (folder / "plans.json").write_text(json.dumps(plans))
    model = load_model(folder)
    assert model.card.input.transpose == tuple(transpose)
    for geometry in (geometries()[7], geometries()[16]):  # NIfTI oblique3 4 mm slices, NRRD oblique2 ~1.2 mm
        path, _ = _write(tmp_path, geometry)
        row = compare(model, predictor(folder), predictor(folder, float64=True), path)
        row.pop("seg"), row.pop("ref_seg")
        print(f"transpose {transpose}, {geometry[0]}: {row}")
        assert row["input_shape_equal"] and row["input_max_diff"] < 1e-5
        assert row["agreement64"] >= 0.9999 and row["max_prob_diff64"] < 1e-3
        assert row["agreement"] >= 0.995 and row["lesion_dice"] >= 0.95


def _mr_like(tmp_path, geometry):
    """The lesion scan made MR-like: 0 outside the body, positive inside, and zero-valued holes inside the body
    (nnU-Net's hole-filled mask keeps them; a plain non-zero mask would not)."""
    path, truth = _write(tmp_path, geometry)
    image = sitk.ReadImage(str(path))
    values = sitk.GetArrayFromImage(image)
    body = values > -500
    values = np.where(body, values + 60.0, 0.0).astype(np.float32)
    centre = np.asarray(values.shape) // 2
    for offset in ((0, 0, -4), (0, 3, 3), (1, -3, 0)):
        k, j, i = centre + offset
        values[k, j - 1 : j + 2, i - 1 : i + 2] = 0.0  # interior zeros (holes)
    assert body[values == 0].sum() == 27  # the holes are inside the body
    out = sitk.GetImageFromArray(values)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))
    return path, truth


def test_use_mask_for_norm_equals_nnunet(tmp_path):
    """Plans with ZScoreNormalization and use_mask_for_norm (nnU-Net's MR default when cropping shrinks the
    image): the card z-scores inside nnU-Net's hole-filled non-zero mask and sets the rest to 0; the input
    equals DefaultPreprocessor.run_case and the prediction nnUNetPredictor's. (The card before, a whole-box
    z-score, differed by up to 2.7 in the input and 0.29 in lesion Dice; MONAI's nonzero z-score, which
    leaves the holes at 0, by 3.9 in the input.)"""
    import json
    import shutil

    folder = tmp_path / FOLDER.name
    shutil.copytree(FOLDER, folder)
    plans = json.loads((folder / "plans.json").read_text())
    for config in plans["configurations"].values():
        config["normalization_schemes"], config["use_mask_for_norm"] = ["ZScoreNormalization"], [True]
    (folder / "plans.json").write_text(json.dumps(plans))
    model = load_model(folder)
    assert model.card.input.intensity[0].steps[0].get("mask") == "nnunet_nonzero"
    path, truth = _mr_like(tmp_path, geometries()[7])  # NIfTI, oblique about 3 axes, 4 mm slices
    row = compare(model, predictor(folder), predictor(folder, float64=True), path)
    seg = row.pop("seg")
    row.pop("ref_seg")
    print(f"use_mask_for_norm: {row}, lesion dice vs truth {dice(seg, truth):.3f}")
    assert row["input_shape_equal"] and row["input_max_diff"] < 1e-5  # == DefaultPreprocessor.run_case
    assert row["agreement64"] >= 0.9999 and row["max_prob_diff64"] < 1e-3
    assert row["ref_lesion_voxels"] > 0 and row["agreement"] >= 0.995 and row["lesion_dice"] >= 0.95
