"""``explain_volume_node`` on a scene built the plain slicer-core way, as trame-slicer and batch scripts do.

A ``vtkMRMLScene``, a ``vtkSlicerApplicationLogic`` and module logics registered with ``SetModuleLogic``:
no session of ours. Truth: a model that responds only to voxels brighter than 100 HU, on a phantom whose
lesion (160 HU) sits at a known point in patient space.
"""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
torch = pytest.importorskip("torch")

from helpers.slicer_models import BrightSpot  # noqa: E402
from SaliencyExplorerLib import explain_volume_node  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.mrml import heatmap_node, module_logics, rendering, volume_nodes  # noqa: E402

LESION_LPS = (8.0, -6.0, 4.0)


@pytest.fixture
def plain_scene():
    """The scene a batch script makes by hand (the notes' recipe), with the logics it keeps alive."""
    import vtk

    vtk.vtkObject.GlobalWarningDisplayOff()
    scene = slicer.vtkMRMLScene()
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    logics = {}
    for name, cls in {
        "Colors": "vtkSlicerColorLogic",
        "Volumes": "vtkSlicerVolumesLogic",
        "SubjectHierarchy": "vtkSlicerSubjectHierarchyModuleLogic",
        "Segmentations": "vtkSlicerSegmentationsModuleLogic",
    }.items():
        logic = getattr(slicer, cls)()
        logic.SetMRMLApplicationLogic(app)
        logic.SetMRMLScene(scene)
        app.SetModuleLogic(name, logic)
        logics[name] = logic
    app.SetColorLogic(logics["Colors"])
    yield scene, logics
    scene.Clear(1)


def test_explain_volume_node_works_on_a_plain_slicer_core_scene(plain_scene):
    scene, logics = plain_scene
    assert scene.GetAddressAsString("") not in module_logics._SESSIONS  # not one of ours
    image, mask = phantoms.make_phantom(
        size=(40, 36, 14),
        spacing=(0.9, 1.1, 3.0),
        direction=phantoms.rotation_direction((18.0, -12.0, 25.0)),
        lesion_center_lps=LESION_LPS,
        lesion_radius_mm=6.0,
    )
    source = volume_nodes.add_volume_from_image(scene, image, "patient CT")
    colour_tables = scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode")

    out = explain_volume_node(source, BrightSpot().eval(), layers="conv", label_map=True, segmentation=True)

    assert logics["Volumes"].CompareVolumeGeometry(out, source) == ""
    center = phantoms.lesion_center_of(image, mask)
    heat = volume_nodes.node_array(out)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    peak_ras = volume_nodes.ijk_to_world_ras(out, peak[::-1])
    assert np.linalg.norm(peak_ras - center * [-1, -1, 1]) < 6.0  # inside the 6 mm lesion
    assert out.GetDisplayNode().GetColorNodeID()
    assert slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(out) is not None
    segmentation = out.GetNodeReference(heatmap_node.SEGMENTATION_ROLE)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 1
    label = volume_nodes.node_array(out.GetNodeReference(heatmap_node.LABEL_MAP_ROLE))
    assert int(label.sum()) == int((heat >= 0.2).sum()) > 0
    # Slicer's colour tables are all still there (no Colors logic of ours came and went)
    assert scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode") >= colour_tables

    picture = rendering.render_slice(source, out, orientation="Axial", center_ras=center * [-1, -1, 1])
    assert picture.ndim == 3 and picture.shape[2] == 4 and picture[..., :3].std() > 0
