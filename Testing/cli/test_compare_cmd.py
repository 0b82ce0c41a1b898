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
    image, mask = make_phantom(size=(24, 24, 16), spacing=(2.0, 2.0, 3.0), lesion_center_lps=(4.0, -3.0, 2.0),
                               lesion_radius_mm=6.0)
    sitk.WriteImage(image, str(tmp / "ct.nrrd"))
    sitk.WriteImage(mask, str(tmp / "lesion.nrrd"))
    return tmp


def test_compare_one_volume_writes_table_figure_and_heatmaps(files, capsys):
    out = files / "out"
    code = main(["compare", "--input", str(files / "ct.nrrd"), "--region", str(files / "lesion.nrrd"),
                 "--model", str(files / "tiny.pt"), "--methods", "gradcam,saliency,occlusion", "--steps", "6",
                 "--random-repeats", "1", "--sanity-layers", "1", "--output-dir", str(out), "-q"])
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


@pytest.mark.parametrize("extra, message", [
    ([], "exactly one"),
    (["--input", "ct.nrrd", "--cases", "ct.nrrd"], "exactly one"),
    (["--input", "ct.nrrd", "--workers", "2"], "for cohorts"),
    (["--input", "ct.nrrd", "--methods", "gradkam"], "Unknown method"),
    (["--input", "ct.nrrd", "--methods", ","], "--methods is empty"),
])
def test_bad_arguments_are_one_line_errors(files, capsys, extra, message):
    args = [a if not a.endswith(".nrrd") else str(files / a) for a in extra]
    code = main(["compare", *args, "--model", str(files / "tiny.pt"), "--output-dir", str(files / "bad"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_output_dir_may_not_be_an_input(files, capsys):
    code = main(["compare", "--input", str(files / "ct.nrrd"), "--model", str(files / "tiny.pt"),
                 "--output-dir", str(files / "ct.nrrd"), "-q"])
    assert code == 2 and "--output-dir" in capsys.readouterr().err
    assert sitk.ReadImage(str(files / "ct.nrrd")).GetSize() == (24, 24, 16)
