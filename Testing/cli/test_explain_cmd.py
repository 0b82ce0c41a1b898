"""The `explain` and `layers` subcommands end to end: files in, a registered heatmap out, and every bad input
a clear message with a non-zero exit, never a written input."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.geometry_helpers import write_dicom_series
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.volumes.image_files import write_image

LESION = (9.0, -6.0, 4.0)
BLOBNET = textwrap.dedent("""
    import torch
    from torch import nn

    class BlobNet(nn.Module):
        def __init__(self, bias=0.6):
            super().__init__()
            self.detector = nn.Conv3d(1, 1, 3, padding=1)
            with torch.no_grad():
                self.detector.weight.fill_(1 / 27)
                self.detector.bias.fill_(-bias)
            self.act = nn.ReLU()

        def forward(self, x):
            b = self.act(self.detector(x)).flatten(1).mean(1)
            return torch.stack([-b, b], 1) * 10
""")
CARD = {
    "name": "blob",
    "classes": ["no lesion", "lesion"],
    "architecture": {"class": "blobnet.py:BlobNet"},
    "target_layer": "act",
    "input": {
        "orientation": "RAS",
        "spacing": [1.5, 1.5, 1.5],
        "intensity": {"type": "window", "min": -200, "max": 300},
    },
}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A state dict + card (found beside it) + an oblique anisotropic CT in NRRD and NIfTI."""
    import torch

    d = tmp_path_factory.mktemp("cli")
    (d / "blobnet.py").write_text(BLOBNET)
    sys.path.insert(0, str(d))
    try:
        from blobnet import BlobNet
    finally:
        sys.path.remove(str(d))
    torch.save(BlobNet().state_dict(), d / "model.pt")
    torch.save(BlobNet(), d / "pickled.pt")  # a full pickle: refused without --trust-pickle
    (d / "model.json").write_text(json.dumps(CARD))
    img, mask = make_phantom(
        size=(60, 60, 14),
        spacing=(0.7, 0.7, 3.0),
        direction=rotation_direction((15, 20, 0)),
        lesion_center_lps=LESION,
        lesion_radius_mm=6.0,
    )
    write_image(img, d / "ct.nrrd")
    write_image(img, d / "ct.nii.gz")
    write_image(mask, d / "lesion.nrrd")
    return d, img, mask


def run_cli(*argv, trust=True):
    argv = [str(a) for a in argv]
    if trust and argv[0] in ("explain", "layers", "evaluate"):  # the card names blobnet.py: code, so the opt-in
        argv.append("--trust-code")
    return main(argv)


def in_lesion(mask, point):
    return bool(sitk.GetArrayViewFromImage(mask)[mask.TransformPhysicalPointToIndex(tuple(point))[::-1]])


@pytest.mark.parametrize("src,out", [("ct.nrrd", "heat.nrrd"), ("ct.nii.gz", "heat.nii.gz")])
def test_explain_writes_a_registered_heatmap_and_summary(case, capsys, src, out):
    d, img, mask = case
    before = (d / src).read_bytes()
    rc = run_cli(
        "explain",
        "--input",
        d / src,
        "--model",
        d / "model.pt",
        "--output",
        d / out,
        "--label-output",
        d / f"label_{out}",
        "--threshold",
        "0.5",
        "--target",
        "lesion",
        "--json",
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["target"] == {"index": 1, "name": "lesion"} and summary["method"] == "gradcam"
    assert summary["layers"] == ["act"] and 0.5 < summary["score"] <= 1
    lps, ras = np.array(summary["peak"]["lps_mm"]), np.array(summary["peak"]["ras_mm"])
    assert np.allclose(ras, lps * [-1, -1, 1]) and in_lesion(mask, lps)
    assert {"read", "to_model", "explain", "to_native", "write", "total"} <= set(summary["timings_s"])
    heat = sitk.ReadImage(str(d / out))
    ref = sitk.ReadImage(str(d / src))
    assert heat.GetSize() == ref.GetSize()
    for a, b in (
        (heat.GetSpacing(), ref.GetSpacing()),
        (heat.GetOrigin(), ref.GetOrigin()),
        (heat.GetDirection(), ref.GetDirection()),
    ):
        assert np.allclose(a, b, atol=1e-6)
    arr = sitk.GetArrayFromImage(heat)
    peak = heat.TransformIndexToPhysicalPoint([int(i) for i in np.unravel_index(arr.argmax(), arr.shape)[::-1]])
    assert in_lesion(mask, peak)
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(d / f"label_{out}")))
    assert label.dtype == np.uint8 and np.array_equal(label, (arr >= 0.5).astype(np.uint8))
    # most of the label lies in the lesion
    assert (label & sitk.GetArrayFromImage(mask)).sum() > 0.5 * label.sum()
    assert (d / src).read_bytes() == before


def test_dicom_series_folder_in_heatmap_on_its_grid(case, tmp_path, capsys):
    d, img, mask = case
    folder = write_dicom_series(img, tmp_path / "dicom")
    rc = run_cli("explain", "-i", folder, "-m", d / "model.pt", "-o", tmp_path / "heat.nrrd", "--json", "-q")
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and in_lesion(mask, summary["peak"]["lps_mm"])
    heat = sitk.ReadImage(str(tmp_path / "heat.nrrd"))
    series = sitk.ImageSeriesReader()
    series.SetFileNames(series.GetGDCMSeriesFileNames(str(folder)))
    ref = series.Execute()
    assert heat.GetSize() == ref.GetSize()
    assert np.allclose(heat.GetOrigin(), ref.GetOrigin(), atol=1e-6)
    assert np.allclose(heat.GetDirection(), ref.GetDirection(), atol=1e-6)
    assert np.allclose(heat.GetSpacing(), ref.GetSpacing(), atol=1e-6)
    # an output inside the input DICOM folder is refused
    assert run_cli("explain", "-i", folder, "-m", d / "model.pt", "-o", folder / "heat.nrrd", "-q") == 2
    assert "never overwritten" in capsys.readouterr().err


def test_layers_lists_the_table_with_the_default(case, capsys):
    d, _, _ = case
    assert run_cli("layers", "--model", d / "model.pt") == 0
    out = capsys.readouterr().out
    assert any(line.startswith("* act") for line in out.splitlines())
    assert run_cli("layers", "--model", d / "model.pt", "--card", d / "model.json", "--json", "--size", 20, 24, 28) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["input_shape"] == [1, 1, 20, 24, 28]
    rows = {r["name"]: r for r in table["layers"]}
    assert rows["act"]["default"] and rows["detector"]["output_shape"] == [1, 1, 20, 24, 28]


def test_subprocess_exit_status_and_progress(case, tmp_path):
    d, _, _ = case
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "SaliencyExplorerLib",
            "explain",
            "-i",
            d / "ct.nrrd",
            "-m",
            d / "model.pt",
            "-o",
            tmp_path / "h.nrrd",
            "--method",
            "occlusion",
            "--trust-code",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "/" in ok.stderr and "[" in ok.stderr  # the progress bar
    assert "peak at RAS" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "SaliencyExplorerLib",
            "explain",
            "-i",
            tmp_path / "nope.nrrd",
            "-m",
            d / "model.pt",
            "-o",
            tmp_path / "h2.nrrd",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert bad.returncode != 0 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def _bad_cases(d, tmp):
    junk = tmp / "junk.nrrd"
    junk.write_bytes(b"garbage")
    four = tmp / "four.nii.gz"
    sitk.WriteImage(sitk.Image([6, 6, 6, 2], sitk.sitkFloat32), str(four))
    vec = tmp / "vec.nrrd"
    sitk.WriteImage(sitk.Image([6, 6, 6], sitk.sitkVectorFloat32, 3), str(vec))
    bad_card = tmp / "bad.json"
    bad_card.write_text(json.dumps({**CARD, "input": {**CARD["input"], "spacing": [1, "x", 1]}}))
    unknown_card = tmp / "unknown.json"
    unknown_card.write_text(json.dumps({**CARD, "colour": "red"}))
    out = tmp / "heat.nrrd"
    model = d / "model.pt"
    ct = d / "ct.nrrd"
    return {
        "unreadable": (["-i", junk, "-m", model, "-o", out], "cannot read"),
        "missing input": (["-i", tmp / "missing.nrrd", "-m", model, "-o", out], "does not exist"),
        "4-D image": (["-i", four, "-m", model, "-o", out], "4 dimensions"),
        "vector image": (["-i", vec, "-m", model, "-o", out], "vector image"),
        "mistyped card": (["-i", ct, "-m", model, "-c", bad_card, "-o", out], "'input.spacing[1]'"),
        "unknown card field": (["-i", ct, "-m", model, "-c", unknown_card, "-o", out], "'colour'"),
        "output is the input": (["-i", ct, "-m", model, "-o", ct], "never overwritten"),
        "label is the input": (["-i", ct, "-m", model, "-o", out, "--label-output", ct], "never overwritten"),
        "output is the model card": (["-i", ct, "-m", model, "-c", d / "model.json", "-o", d / "model.json"], "suffix"),
        "unwritable output": (["-i", ct, "-m", model, "-o", ct / "heat.nrrd"], "does not exist"),
        "missing folder": (["-i", ct, "-m", model, "-o", tmp / "no" / "heat.nrrd"], "does not exist"),
        "pickle without opt-in": (["-i", ct, "-m", d / "pickled.pt", "-c", d / "model.json", "-o", out], "pickle"),
        "missing model": (["-i", ct, "-m", tmp / "none.pt", "-o", out], "does not exist"),
        "wrong channel count": (["-i", ct, "-i", ct, "-m", model, "-o", out], "in_channels=1"),
        "unknown class": (["-i", ct, "-m", model, "-o", out, "--target", "tumour"], "known classes"),
        "no cuda": (["-i", ct, "-m", model, "-o", out, "--device", "cuda:7"], "cuda"),
        "bad threshold": (
            ["-i", ct, "-m", model, "-o", out, "--label-output", tmp / "l.nrrd", "--threshold", "3"],
            "threshold",
        ),
    }


def test_each_bad_input_exits_non_zero_with_a_clear_message(case, tmp_path, capsys):
    import torch

    d, _, _ = case
    snapshot = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    for name, (argv, message) in _bad_cases(d, tmp_path).items():
        if name == "no cuda" and torch.cuda.is_available():
            continue
        rc = run_cli("explain", *argv, "-q", trust=name != "pickle without opt-in")
        err = capsys.readouterr().err
        assert rc != 0, name
        assert message.lower() in err.lower(), f"{name}: {err}"
        assert err.startswith("error: "), f"{name}: {err}"
    assert not (tmp_path / "heat.nrrd").exists()
    assert {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and p.name in snapshot} == snapshot


def test_repeated_layers_and_numeric_target(case, tmp_path, capsys):
    d, _, mask = case
    rc = run_cli(
        "explain",
        "-i",
        d / "ct.nrrd",
        "-m",
        d / "model.pt",
        "-o",
        tmp_path / "h.nii",
        "--layer",
        "detector",
        "--layer",
        "act",
        "--target",
        "1",
        "--json",
        "-q",
    )
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["layers"] == ["detector", "act"] and summary["target"]["index"] == 1
    assert in_lesion(mask, summary["peak"]["lps_mm"])


def test_layers_probe_shape_follows_the_card():
    from SaliencyExplorerLib.card import parse_card
    from SaliencyExplorerLib.cli.layers_cmd import probe_shape

    assert probe_shape(parse_card({"in_channels": 2, "input": {"size": [10, 20, 30]}})) == (1, 2, 10, 20, 30)
    assert probe_shape(parse_card({"input": {"size": [10, 20, 30], "array_order": "zyx"}})) == (1, 1, 30, 20, 10)
    assert probe_shape(parse_card({"spatial_dims": 2, "input": {"size": [10, 20], "slice_axis": "j"}})) == (
        1,
        1,
        10,
        20,
    )
    assert probe_shape(parse_card({})) == (1, 1, 64, 64, 64)
    assert probe_shape(parse_card({}), [8, 9, 10]) == (1, 1, 8, 9, 10)
