"""``explain_volume_node(..., prediction=True)``: the model's own answer as a segmentation node (issue 11).

Truth: a 1x1x1 convolution labelling voxels brighter than 100 HU, on an oblique anisotropic phantom in
patient space. Its segmentation must hold one segment per class named from the card, cover the
thresholded phantom (>= 99% away from the lesion border), sit in the heatmap's subject-hierarchy folder,
be marked as made for this source, and be reused on a re-run; the worker path carries it too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from SaliencyExplorerLib import explain_volume_node  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.mrml import (  # noqa: E402
    explain_node,
    heatmap_node,
    module_logics,
    prediction_node,
    volume_nodes,
)
from torch import nn  # noqa: E402

THRESHOLD = 100.0
CARD = {
    "task": "segmentation",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["background", "lesion"],
    "input": {"spacing": [1.3, 1.3, 1.3]},
}


def _model():
    conv = nn.Conv3d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-1.0, 1.0]).reshape(2, 1, 1, 1, 1))
        conv.bias.copy_(torch.tensor([THRESHOLD, -THRESHOLD]))
    return nn.Sequential(conv).eval()


@pytest.fixture
def session():
    session = module_logics.start_headless()
    yield session
    session.close()


def _phantom_node(scene):
    image, _ = phantoms.make_phantom(
        size=(36, 32, 12),
        spacing=(0.9, 1.1, 3.0),
        direction=phantoms.rotation_direction((18.0, -12.0, 25.0)),
        lesion_center_lps=(8.0, -6.0, 4.0),
        lesion_radius_mm=8.0,
        noise_hu=0.0,
    )
    return volume_nodes.add_volume_from_image(scene, image, "patient CT"), image


def _segment_mask(session, seg, source, name):
    """Voxels of segment ``name`` on the source's grid (exported through a label map)."""
    scene = source.GetScene()
    label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "export")
    ids = slicer.vtkStringArray() if hasattr(slicer, "vtkStringArray") else __import__("vtk").vtkStringArray()
    ids.InsertNextValue(seg.GetSegmentation().GetSegmentIdBySegmentName(name))
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    assert logic.ExportSegmentsToLabelmapNode(seg, ids, label, source)
    array = volume_nodes.node_array(label) > 0
    scene.RemoveNode(label)
    return array


def _away_from_border(truth):
    image = sitk.GetImageFromArray(truth.astype(np.uint8))
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(image, [1, 1, 1]))
    shrunk = sitk.GetArrayFromImage(sitk.BinaryErode(image, [1, 1, 1]))
    return grown == shrunk


def _check(session, seg, source, image, heat):
    assert seg.IsA("vtkMRMLSegmentationNode")
    assert prediction_node.segment_names(seg) == ["lesion"]  # background 0 is not a segment
    assert heatmap_node.made_for(seg, source)
    assert seg.GetAttribute(prediction_node.ROLE_ATTRIBUTE) == prediction_node.PREDICTION_ROLE
    sh = source.GetScene().GetSubjectHierarchyNode()
    assert sh.GetItemParent(sh.GetItemByDataNode(seg)) == sh.GetItemParent(sh.GetItemByDataNode(heat))
    got = _segment_mask(session, seg, source, "lesion")
    truth = sitk.GetArrayFromImage(image) > THRESHOLD
    inside = _away_from_border(truth)
    assert truth.sum() > 200 and float((got == truth)[inside].mean()) >= 0.99


def test_prediction_segmentation_beside_the_heatmap_and_reused_on_a_rerun(session):
    scene = session.scene
    source, image = _phantom_node(scene)
    heat = explain_volume_node(source, _model(), card=CARD, method="saliency", prediction=True)
    seg = prediction_node.prediction_node_for(source)
    assert seg is not None
    _check(session, seg, source, image, heat)
    assert heat.GetNodeReference("SaliencyExplorer.prediction") is seg

    count = scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    again = explain_volume_node(source, _model(), card=CARD, method="saliency", prediction=True)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == count
    assert prediction_node.prediction_node_for(source) is seg
    _check(session, seg, source, image, again)
    assert scene.GetNumberOfNodesByClass("vtkMRMLLabelMapVolumeNode") == 0  # the temporary label map is gone


def test_without_prediction_no_node_and_another_volume_gets_its_own(session):
    scene = session.scene
    source, _ = _phantom_node(scene)
    explain_volume_node(source, _model(), card=CARD, method="saliency")
    assert prediction_node.prediction_node_for(source) is None
    other, _ = _phantom_node(scene)
    explain_volume_node(source, _model(), card=CARD, method="saliency", prediction=True)
    explain_volume_node(other, _model(), card=CARD, method="saliency", prediction=True)
    assert prediction_node.prediction_node_for(source) is not prediction_node.prediction_node_for(other)


def test_classification_probabilities_are_stored_on_the_heatmap(session):
    source, _ = _phantom_node(session.scene)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten()).eval()
    heat = explain_volume_node(
        source,
        model,
        card={"spatial_dims": 3, "in_channels": 1, "classes": ["no", "yes"]},
        method="gradcam",
        layers="0",
        prediction=True,
    )
    scores = json.loads(heatmap_node.provenance_of(heat)["prediction"])
    assert set(scores) == {"no", "yes"} and sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction_node.prediction_node_for(source) is None


def test_the_worker_writes_prediction_nrrd_and_finish_adds_it(session, tmp_path):
    source, image = _phantom_node(session.scene)
    path = tmp_path / "seg.pt"
    torch.jit.script(_model()).save(str(path))
    process = explain_node.start_background(source, str(path), card=CARD, method="saliency")
    process.wait(300)
    process.poll()
    assert process.result_path is not None, (process.error, process.log[-5:])
    record = json.loads(process.result_path.read_text())
    assert record["prediction"]["labels"] == {"1": "lesion"}
    assert (process.result_path.parent / "prediction.nrrd").is_file()
    heat = explain_node.finish_background(process, source, prediction=True)
    _check(session, prediction_node.prediction_node_for(source), source, image, heat)
