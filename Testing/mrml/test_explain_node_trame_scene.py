"""``explain_volume_node`` on trame-slicer's own scene (``trame_slicer.core.SlicerApp``), the web front door's.

That scene registers MRML's plain ``vtkMRMLColorLogic``, which does not know the colour legend node: the
legend used to come back None and the write ended half done. Truth: the lesion's known position (the
heatmap's peak lies in it), the legend node found through Slicer's own lookup, and the node-ID list.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="trame-slicer is needed: pip install SaliencyExplorer[web]")
torch = pytest.importorskip("torch")

import slicer  # noqa: E402
from helpers.slicer_models import BrightSpot  # noqa: E402
from SaliencyExplorerLib import explain_volume_node  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.mrml import explain_node, prediction_node, rollback, volume_nodes  # noqa: E402

LESION_LPS = (8.0, -6.0, 4.0)


@pytest.fixture(scope="module")
def trame_scene():
    import os

    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame_slicer.core import SlicerApp

    app = SlicerApp()
    assert not app.scene.IsNodeClassRegistered("vtkMRMLColorLegendDisplayNode")  # the trap this test is about
    yield app.scene
    app.scene.Clear(1)


@pytest.fixture
def phantom(trame_scene):
    image, mask = phantoms.make_phantom(
        size=(40, 36, 14),
        spacing=(0.9, 1.1, 3.0),
        direction=phantoms.rotation_direction((18.0, -12.0, 25.0)),
        lesion_center_lps=LESION_LPS,
        lesion_radius_mm=6.0,
    )
    return volume_nodes.add_volume_from_image(trame_scene, image, "patient CT"), image, mask


def test_the_heatmap_with_its_legend_on_a_trame_slicer_scene(trame_scene, phantom):
    source, image, mask = phantom
    out = explain_volume_node(source, BrightSpot().eval(), layers="conv", segmentation=True)
    legend = slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(out)
    assert legend is not None and legend.GetTitleText() == "Saliency"
    heat = volume_nodes.node_array(out)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    center_ras = phantoms.lesion_center_of(image, mask) * [-1, -1, 1]
    assert np.linalg.norm(volume_nodes.ijk_to_world_ras(out, peak[::-1]) - center_ras) < 6.0


def test_an_error_leaves_the_trame_slicer_scene_as_it_was(trame_scene, phantom, monkeypatch):
    source, _image, _mask = phantom
    ids = rollback.node_ids(trame_scene)

    def fail(*_args, **_kwargs):
        raise AttributeError("'NoneType' object has no attribute 'SetTitleText'")  # what the trial hit

    monkeypatch.setattr(explain_node, "show_report", fail)
    with pytest.raises(AttributeError):
        explain_volume_node(source, BrightSpot().eval(), layers="conv")
    assert rollback.node_ids(trame_scene) == ids
    assert prediction_node.prediction_node_for(source) is None
