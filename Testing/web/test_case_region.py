"""A click on a slice view picks the region of a segmentation model (``Case.set_region_point``), and the
model's own answer is saved beside the heatmap.

Truth: a per-voxel segmenter (SegNet, a blob detector) on a phantom with two lesions far apart at known
points; the region's saliency can only lie next to the lesion clicked, and the saved prediction is the
blob detector's own label map, covering the lesion clicked.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
torch = pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402
from helpers.geometry_helpers import CT_CARD, SegNet, two_lesion_phantom  # noqa: E402
from SaliencyExplorerLib.demo.phantoms import rotation_direction  # noqa: E402
from SaliencyExplorerLib.web.case import Case  # noqa: E402
from SaliencyExplorerLib.web.root_files import Root  # noqa: E402

FIRST, SECOND = (-14.0, 6.0, 3.0), (12.0, -8.0, -2.0)  # LPS mm


def test_the_clicked_lesion_is_explained_and_the_prediction_saved(mrml, tmp_path):
    image, first, second = two_lesion_phantom(
        (48, 40, 16), (0.9, 1.1, 2.5), rotation_direction((15.0, -10.0, 20.0)), FIRST, SECOND
    )
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    torch.jit.trace(SegNet().eval(), torch.zeros(1, 1, 16, 40, 48)).save(str(tmp_path / "seg.ts"))
    (tmp_path / "seg.json").write_text(json.dumps({**CT_CARD, "task": "segmentation", "target_layer": None}))
    case = Case(Root(tmp_path), mrml.scene)
    case.open_volume("ct.nrrd")
    case.open_model("seg.ts")
    assert case.task == "segmentation"
    text = case.set_region_point([-FIRST[0], -FIRST[1], FIRST[2]])  # what the page's click handler passes: RAS
    assert text.startswith("Region: the predicted component at R 14.0, A -6.0, S 3.0")
    case.start("saliency", target="1: lesion")
    assert case.wait(300).state == "done", case.state.message
    heat = sitk.GetArrayFromImage(case.heatmap_image)
    near_first = sitk.GetArrayFromImage(sitk.BinaryDilate(first, [2, 2, 2])) > 0
    assert heat[near_first].sum() > 0.99 * heat.sum() > 0  # only the lesion clicked
    assert heat[sitk.GetArrayFromImage(second) > 0].sum() < 1e-6 * heat.sum()  # not the other one
    saved = case.save()
    assert [p.name for p in saved][:2] == ["ct_saliency.nrrd", "ct_saliency_prediction.nrrd"]
    prediction = sitk.ReadImage(str(saved[1]))  # the model's whole answer: both lesions, little else
    for centre in (FIRST, SECOND):
        assert prediction[prediction.TransformPhysicalPointToIndex(centre)] == 1
    assert sitk.GetArrayFromImage(prediction).mean() < 0.05
