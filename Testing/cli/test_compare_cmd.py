"""`compare` end to end on one small volume: table (JSON + CSV), figure and heatmaps; bad inputs."""

import csv
import json

import pytest
import SimpleITK as sitk
from helpers.model_files import tiny_lesion_model
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.phantoms import make_phantom


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    tiny_lesion_model(tmp)
    image, mask = make_phantom(
        size=(24, 24, 16), spacing=(2.0, 2.0, 3.0), lesion_center_lps=(4.0, -3.0, 2.0), lesion_radius_mm=6.0
    )
    sitk.WriteImage(image, str(tmp / "ct.nrrd"))
    sitk.WriteImage(mask, str(tmp / "lesion.nrrd"))
    return tmp


def test_compare_one_volume_writes_table_figure_and_heatmaps(files, capsys):
    out = files / "out"
    code = main(
        [
            "compare",
            "--input",
            str(files / "ct.nrrd"),
            "--region",
            str(files / "lesion.nrrd"),
            "--model",
            str(files / "tiny.pt"),
            "--methods",
            "gradcam,saliency,occlusion",
            "--steps",
            "6",
            "--random-repeats",
            "1",
            "--sanity-layers",
            "1",
            "--output-dir",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    report = json.loads((out / "comparison.json").read_text())
    assert sorted(report["ranking"]) == ["gradcam", "occlusion", "saliency"]
    assert report["settings"]["method_options"]["occlusion"] == {"mode": "fast"}
    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    assert all(r["pointing_hit"] in ("True", "False") and r["seconds"] for r in rows)
    assert (out / "comparison.png").stat().st_size > 10_000
    for name in ("gradcam", "saliency", "occlusion"):
        heat = sitk.ReadImage(str(out / "heatmaps" / f"{name}.nrrd"))
        assert heat.GetSize() == (24, 24, 16)
    assert "gradcam" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "exactly one"),
        (["--input", "ct.nrrd", "--cases", "ct.nrrd"], "exactly one"),
        (["--input", "ct.nrrd", "--workers", "2"], "for cohorts"),
        (["--input", "ct.nrrd", "--methods", "gradkam"], "Unknown method"),
        (["--input", "ct.nrrd", "--methods", ","], "--methods is empty"),
    ],
)
def test_bad_arguments_are_one_line_errors(files, capsys, extra, message):
    args = [a if not a.endswith(".nrrd") else str(files / a) for a in extra]
    code = main(["compare", *args, "--model", str(files / "tiny.pt"), "--output-dir", str(files / "bad"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_output_dir_may_not_be_an_input(files, capsys):
    code = main(
        [
            "compare",
            "--input",
            str(files / "ct.nrrd"),
            "--model",
            str(files / "tiny.pt"),
            "--output-dir",
            str(files / "ct.nrrd"),
            "-q",
        ]
    )
    assert code == 2 and "--output-dir" in capsys.readouterr().err
    assert sitk.ReadImage(str(files / "ct.nrrd")).GetSize() == (24, 24, 16)


def test_compare_takes_layer_option_and_body_mask_like_evaluate(files, capsys):
    """--layer, --option and --body-mask reach the comparison: the body is where the sanity check compares."""
    image = sitk.ReadImage(str(files / "ct.nrrd"))
    body = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    body.CopyInformation(image)
    body[0:12, :, :] = 1  # half the volume along x
    sitk.WriteImage(body, str(files / "body.nrrd"))
    out = files / "out-vocab"
    code = main(
        [
            "compare",
            "--input",
            str(files / "ct.nrrd"),
            "--truth-mask",
            str(files / "lesion.nrrd"),
            "--model",
            str(files / "tiny.pt"),
            "--methods",
            "gradcam",
            "--method",
            "scorecam",
            "--layer",
            "features.block2",
            "--option",
            "max_channels=2",
            "--body-mask",
            str(files / "body.nrrd"),
            "--steps",
            "4",
            "--random-repeats",
            "1",
            "--sanity-layers",
            "1",
            "--no-figure",
            "--output-dir",
            str(out),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "comparison.json").read_text())
    assert sorted(report["ranking"]) == ["gradcam", "scorecam"]
    assert report["settings"]["method_options"]["scorecam"] == {"max_channels": 2}
    assert not report["settings"]["method_options"].get("gradcam")
    fractions = {m: s["foreground_fraction"] for m, s in report["sanity"].items()}
    assert fractions and all(abs(f - 0.5) < 0.1 for f in fractions.values()), fractions


def test_compare_layer_reaches_the_cams(files, capsys):
    main(
        [
            "compare",
            "--input",
            str(files / "ct.nrrd"),
            "--model",
            str(files / "tiny.pt"),
            "--methods",
            "gradcam",
            "--layer",
            "features.nosuch",
            "--steps",
            "3",
            "--random-repeats",
            "1",
            "--no-sanity",
            "--no-figure",
            "--output-dir",
            str(files / "out-layer"),
            "-q",
        ]
    )
    row = json.loads((files / "out-layer" / "comparison.json").read_text())["table"][0]
    assert row["error"] and "features.nosuch" in row["error"]
