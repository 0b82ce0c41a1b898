"""`--option NAME=VALUE` reaches the engine (explain and evaluate); a mistyped option is a clear error."""

import json

import numpy as np
import SimpleITK as sitk
from helpers.paths import SAMPLES
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.workflow.explain_image import explain_image

MODEL = str(SAMPLES / "lesion_classifier.pt")
VOLUME = str(SAMPLES / "sample_ct.nrrd")


def test_option_is_passed_to_the_method(tmp_path):
    out = tmp_path / "heat.nrrd"
    args = [
        "explain",
        "-i",
        VOLUME,
        "-m",
        MODEL,
        "--method",
        "scorecam",
        "--option",
        "max_channels=3",
        "--option",
        "aug_smooth=True",
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    expected = explain_image(sitk.ReadImage(VOLUME), MODEL, method="scorecam", max_channels=3, aug_smooth=True)
    np.testing.assert_allclose(written, sitk.GetArrayFromImage(expected.heatmap_image), atol=1e-6)
    plain = explain_image(sitk.ReadImage(VOLUME), MODEL, method="scorecam")
    assert np.abs(sitk.GetArrayFromImage(plain.heatmap_image) - written).max() > 1e-3  # the options mattered


def test_unknown_option_names_the_valid_ones(tmp_path, capsys):
    out = tmp_path / "heat.nrrd"
    code = main(
        [
            "explain",
            "-i",
            VOLUME,
            "-m",
            MODEL,
            "--method",
            "scorecam",
            "--option",
            "max_chanels=3",
            "-o",
            str(out),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "max_chanels" in err and "max_channels" in err
    assert not out.exists()
    code = main(["explain", "-i", VOLUME, "-m", MODEL, "--option", "window 3", "-o", str(out), "--quiet"])
    assert code == 2 and "name=value" in capsys.readouterr().err


def test_evaluate_takes_options_too(capsys):
    code = main(
        [
            "evaluate",
            "-i",
            VOLUME,
            "-m",
            MODEL,
            "--method",
            "scorecam",
            "--option",
            "max_channels=2",
            "--steps",
            "5",
            "--no-sanity",
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["deletion_auc"] <= 1.0
    assert main(["evaluate", "-i", VOLUME, "-m", MODEL, "--option", "nonsense=1", "--no-sanity", "--quiet"]) == 2
