"""`evaluate` end to end: a phantom with a lesion, a model that looks at bright voxels, a region on another grid."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction

ARCH = '''
import torch
from torch import nn


class BrightSpot(nn.Module):
    """Class 1 = mean of relu(3x3x3 local mean - 100 HU): evidence only where voxels are lesion-bright."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 3, padding=1)
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))
'''
LESION_LPS = (6.0, -4.0, 3.0)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    (tmp / "bright.py").write_text(ARCH)
    namespace = {}
    exec(ARCH, namespace)
    model = namespace["BrightSpot"]()
    with torch.no_grad():
        model.conv.weight.fill_(1.0 / 27)
        model.conv.bias.fill_(-100.0)
        model.fc.weight.copy_(torch.tensor([[-10.0], [10.0]]))
        model.fc.bias.zero_()
    torch.save(model.state_dict(), tmp / "model.pt")
    card = {
        "name": "bright spot",
        "spatial_dims": 3,
        "in_channels": 1,
        "classes": ["normal", "lesion"],
        "architecture": {"class": "bright.py:BrightSpot"},
        "target_layer": "conv",
    }
    (tmp / "model.json").write_text(json.dumps(card))
    image, mask = make_phantom(
        size=(36, 32, 14),
        spacing=(1.0, 1.1, 2.5),
        direction=rotation_direction((10, 0, 5)),
        lesion_center_lps=LESION_LPS,
        lesion_radius_mm=5.0,
        seed=0,
    )
    sitk.WriteImage(image, str(tmp / "ct.nrrd"))
    # the region on a coarser, axis-aligned grid: the command must resample it onto the CT
    coarse = sitk.Image((30, 30, 20), sitk.sitkUInt8)
    coarse.SetSpacing((1.5, 1.5, 2.0))
    coarse.SetOrigin(tuple(c - 1.5 * 15 for c in LESION_LPS[:2]) + (LESION_LPS[2] - 20.0,))
    region = sitk.Resample(mask, coarse, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    region = sitk.Cast(region, sitk.sitkUInt8) * 3  # label value 3
    sitk.WriteImage(region, str(tmp / "region.nii.gz"))
    return tmp


def run_json(capsys, argv):
    status = main(list(argv) + ["--trust-code"])  # the card names bright.py: code, so the opt-in
    captured = capsys.readouterr()
    return status, captured


def test_evaluate_prints_every_number_and_they_make_sense(case, capsys):
    status, out = run_json(
        capsys,
        [
            "evaluate",
            "--input",
            str(case / "ct.nrrd"),
            "--model",
            str(case / "model.pt"),
            "--method",
            "gradcam",
            "--region",
            str(case / "region.nii.gz"),
            "--steps",
            "20",
            "--random-repeats",
            "2",
            "--quiet",
            "--output",
            str(case / "heat.nrrd"),
            "--curves",
        ],
    )
    assert status == 0, out.err
    report = json.loads(out.out)
    for key in (
        "deletion_auc",
        "insertion_auc",
        "random_deletion_auc",
        "random_insertion_auc",
        "sanity",
        "pointing_hit",
        "energy_fraction",
    ):
        assert key in report
    assert report["target_name"] == "lesion"
    assert report["deletion_auc"] < report["random_deletion_auc"] - 0.1
    assert report["insertion_auc"] > report["random_insertion_auc"] + 0.2
    assert [e["layer"] for e in report["sanity"]["layers"]] == ["fc", "conv"]
    assert all(isinstance(e["rank_correlation"], (float, type(None))) for e in report["sanity"]["layers"])
    assert report["sanity"]["flagged"] is False
    assert report["pointing_hit"] is True
    assert len(report["curves"]["fraction"]) == 21
    # energy fraction recomputed here from the written heatmap and the region brought onto the CT grid
    heat_img = sitk.ReadImage(str(case / "heat.nrrd"))
    ct = sitk.ReadImage(str(case / "ct.nrrd"))
    region = sitk.Resample(
        sitk.ReadImage(str(case / "region.nii.gz")), ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0
    )
    heat, inside = sitk.GetArrayFromImage(heat_img), sitk.GetArrayFromImage(region) != 0
    assert report["energy_fraction"] == pytest.approx(heat[inside].sum() / heat.sum(), abs=1e-5)
    assert report["energy_fraction"] > 0.5


def test_evaluate_without_sanity_with_blur_and_label(case, capsys, tmp_path):
    status, out = run_json(
        capsys,
        [
            "evaluate",
            "--input",
            str(case / "ct.nrrd"),
            "--model",
            str(case / "model.pt"),
            "--no-sanity",
            "--steps",
            "10",
            "--random-repeats",
            "1",
            "--replacement",
            "blur",
            "--region",
            str(case / "region.nii.gz"),
            "--region-label",
            "3",
            "--json-output",
            str(tmp_path / "r.json"),
            "--figure",
            str(tmp_path / "f.png"),
        ],
    )
    assert status == 0, out.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert "sanity" not in report and "curves" not in report
    assert report["pointing_hit"] is True
    picture = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    assert picture.shape[1] >= 600
    magenta = np.all(picture == (255, 0, 255), axis=-1)
    assert magenta.sum() > 20  # the region's outline (label 3) is drawn on the tiles that cut it


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--steps", "0"], "--steps: '0' is out of range: give a whole number from 1 to 10000"),
        (["--region-label", "7"], "no voxel with label 7"),
        (["--replacement", "zeros"], "--replacement: 'zeros' is not a finite number, 'mean' or 'blur'"),
    ],
)
def test_evaluate_bad_input_is_a_clear_error(case, capsys, extra, needle):
    try:
        status, out = run_json(
            capsys,
            [
                "evaluate",
                "--input",
                str(case / "ct.nrrd"),
                "--model",
                str(case / "model.pt"),
                "--no-sanity",
                "--quiet",
                "--region",
                str(case / "region.nii.gz"),
                *extra,
            ],
        )
    except SystemExit as stop:  # refused by argparse, before anything is read
        status, out = stop.code, capsys.readouterr()
    assert status == 2
    assert needle in out.err


def test_region_outside_the_image_or_of_another_dimension(case, capsys, tmp_path):
    far = sitk.Image((5, 5, 5), sitk.sitkUInt8) + 1
    far.SetOrigin((500.0, 500.0, 500.0))
    sitk.WriteImage(far, str(tmp_path / "far.nrrd"))
    flat = sitk.Image((5, 5), sitk.sitkUInt8) + 1
    sitk.WriteImage(flat, str(tmp_path / "flat.nrrd"))
    for name, needle in (("far.nrrd", "does not overlap"), ("flat.nrrd", "same dimension")):
        status, out = run_json(
            capsys,
            [
                "evaluate",
                "--input",
                str(case / "ct.nrrd"),
                "--model",
                str(case / "model.pt"),
                "--region",
                str(tmp_path / name),
            ],
        )
        assert status == 2 and needle in out.err


def test_a_body_mask_is_where_the_sanity_check_compares(case, capsys, tmp_path):
    """--body-mask (any grid) replaces the automatic foreground: the report says so and gives its share."""
    ct = sitk.ReadImage(str(case / "ct.nrrd"))
    body = sitk.Cast(sitk.BinaryThreshold(ct, -500.0, 1e6), sitk.sitkUInt8)  # the phantom's body, not the air
    coarse = sitk.Resample(
        body,
        ct.GetSize()[:2] + (7,),
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        ct.GetOrigin(),
        ct.GetSpacing()[:2] + (5.0,),
        ct.GetDirection(),
        0,
        sitk.sitkUInt8,
    )
    sitk.WriteImage(coarse, str(tmp_path / "body.nrrd"))
    status, out = run_json(
        capsys,
        [
            "evaluate",
            "--input",
            str(case / "ct.nrrd"),
            "--model",
            str(case / "model.pt"),
            "--method",
            "gradcam",
            "--body-mask",
            str(tmp_path / "body.nrrd"),
            "--steps",
            "8",
            "--random-repeats",
            "1",
            "--quiet",
        ],
    )
    assert status == 0, out.err
    sanity = json.loads(out.out)["sanity"]
    inside = sitk.GetArrayFromImage(body).mean()
    assert sanity["region"] == "mask" and sanity["foreground_fraction"] == pytest.approx(inside, abs=0.05)
