"""Explaining one lesion of several, chosen in patient space: the predicted component at a RAS point, or a
RAS box. Truth: a per-voxel segmenter (SegNet: a 3x3x3 blob detector), so the saliency of a region's summed
logits is non-zero only next to that region; two lesions far apart on an oblique, anisotropic phantom."""

import json

import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch")

from helpers.geometry_helpers import CT_CARD, BlobNet, SegNet, two_lesion_phantom  # noqa: E402
from SaliencyExplorerLib.cli import main  # noqa: E402
from SaliencyExplorerLib.demo.phantoms import rotation_direction  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.workflow.explain_image import explain_image  # noqa: E402

FIRST, SECOND = (-14.0, 6.0, 3.0), (12.0, -8.0, -2.0)  # LPS mm
SEG_CARD = {**CT_CARD, "task": "segmentation", "target_layer": None}


def ras(lps):
    return [-lps[0], -lps[1], lps[2]]


@pytest.fixture(scope="module")
def case():
    return two_lesion_phantom((48, 40, 16), (0.9, 1.1, 2.5), rotation_direction((15.0, -10.0, 20.0)), FIRST, SECOND)


def energy(heat, mask):
    h, m = sitk.GetArrayFromImage(heat), sitk.GetArrayFromImage(mask) > 0
    return float(h[m].sum()), float(h.sum())


def test_the_component_at_a_point_is_explained_and_the_other_lesion_is_not(case):
    image, first, second = case
    result = explain_image(image, SegNet(), SEG_CARD, method="saliency", target="lesion", region_at=ras(FIRST))
    in_first, total = energy(result.heatmap_image, sitk.BinaryDilate(first, [2, 2, 2]))
    in_second, _ = energy(result.heatmap_image, second)
    assert total > 0 and in_second == 0.0 and in_first / total > 0.99
    other = explain_image(image, SegNet(), SEG_CARD, method="saliency", target="lesion", region_at=ras(SECOND))
    assert energy(other.heatmap_image, first)[0] == 0.0 and energy(other.heatmap_image, second)[0] > 0


def test_a_box_in_patient_space_selects_the_voxels_inside_it(case):
    image, first, second = case
    box = [[v - 8.0 for v in ras(SECOND)], [v + 8.0 for v in ras(SECOND)]]
    result = explain_image(image, SegNet(), SEG_CARD, method="saliency", target="lesion", region_box=box)
    assert energy(result.heatmap_image, first)[0] == 0.0 and energy(result.heatmap_image, second)[0] > 0


def test_the_command_line_takes_a_point(case, tmp_path):
    image, first, second = case
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    torch.jit.trace(SegNet().eval(), torch.zeros(1, 1, 16, 40, 48)).save(str(tmp_path / "seg.ts"))
    (tmp_path / "seg.json").write_text(json.dumps(SEG_CARD))  # the card beside the model: its intensity window
    assert (
        main(
            [
                "explain",
                "-i",
                str(tmp_path / "ct.nrrd"),
                "-m",
                str(tmp_path / "seg.ts"),
                "--method",
                "saliency",
                "--target",
                "1",
                "--region-at",
                ",".join(str(v) for v in ras(FIRST)),
                "-o",
                str(tmp_path / "heat.nrrd"),
            ]
        )
        == 0
    )
    heat = sitk.ReadImage(str(tmp_path / "heat.nrrd"))
    assert energy(heat, second)[0] == 0.0 and energy(heat, first)[0] > 0


def test_bad_regions_are_one_line_errors(case):
    image, first, _ = case
    seg = SegNet()
    with pytest.raises(SaliencyError, match="predicts no class 1 at"):
        explain_image(image, seg, SEG_CARD, method="saliency", target="lesion", region_at=[0.0, 0.0, 0.0])
    with pytest.raises(SaliencyError, match="outside the model's field of view"):
        explain_image(image, seg, SEG_CARD, method="saliency", target="lesion", region_at=[500.0, 0.0, 0.0])
    with pytest.raises(SaliencyError, match="give one region, not region_mask and region_at"):
        explain_image(image, seg, SEG_CARD, target="lesion", region_mask=first, region_at=ras(FIRST))
    with pytest.raises(SaliencyError, match="name the class"):
        explain_image(image, seg, SEG_CARD, region_at=ras(FIRST))
    with pytest.raises(SaliencyError, match="two RAS corners"):
        explain_image(image, seg, SEG_CARD, target="lesion", region_box=[1.0, 2.0, 3.0])
    with pytest.raises(SaliencyError, match="holds no voxel"):
        explain_image(image, seg, SEG_CARD, target="lesion", region_box=[[900, 900, 900], [901, 901, 901]])
    with pytest.raises(SaliencyError, match="this model classifies"):
        explain_image(image, BlobNet(), CT_CARD, target="lesion", region_at=ras(FIRST))


def test_the_command_line_takes_negative_coordinates_and_box_corners_in_any_order(case, tmp_path, capsys):
    image, first, second = case
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    torch.jit.trace(SegNet().eval(), torch.zeros(1, 1, 16, 40, 48)).save(str(tmp_path / "seg.ts"))
    (tmp_path / "seg.json").write_text(json.dumps(SEG_CARD))
    base = [
        "explain",
        "-i",
        str(tmp_path / "ct.nrrd"),
        "-m",
        str(tmp_path / "seg.ts"),
        "--method",
        "saliency",
        "--target",
        "1",
        "-q",
    ]
    point = ",".join(str(v) for v in ras(SECOND))
    assert point.startswith("-")  # as the demo prints it: argparse alone reads it as an option
    assert main([*base, "--region-at", point, "-o", str(tmp_path / "at.nrrd")]) == 0
    high, low = [v + 8.0 for v in ras(SECOND)], [v - 8.0 for v in ras(SECOND)]
    inverted = ",".join(str(v) for v in high + low)  # the far corner first
    assert main([*base, "--region-box", inverted, "-o", str(tmp_path / "box.nrrd")]) == 0
    for name in ("at.nrrd", "box.nrrd"):
        heat = sitk.ReadImage(str(tmp_path / name))
        assert energy(heat, first)[0] == 0.0 and energy(heat, second)[0] > 0, name


def test_region_at_as_text_is_one_clear_error(case):
    image, _, _ = case
    with pytest.raises(SaliencyError, match="three finite RAS coordinates"):
        explain_image(image, SegNet(), SEG_CARD, method="saliency", target="lesion", region_at="1,2,3")
    with pytest.raises(SaliencyError, match="two RAS corners"):
        explain_image(image, SegNet(), SEG_CARD, method="saliency", target="lesion", region_box="1,2,3,4,5,6")
