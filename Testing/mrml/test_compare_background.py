"""The panel's *Compare methods* runs in the worker process: same ranking and numbers as in-process.

Truth: ``compare_volume_node`` run in this process on the same volume, model and checks; the worker's maps
come back onto the source's own grid, the job folder is removed, and nothing reaches the scene until the
comparison is finished.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
torch = pytest.importorskip("torch")

from helpers.slicer_models import BrightSpot  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.mrml import compare_nodes, explain_node, module_logics, panel, volume_nodes  # noqa: E402

CHECKS = {"steps": 8, "random_repeats": 1, "sanity_layers": 1}
METHODS = ["gradcam", "saliency"]


@pytest.fixture
def session():
    s = module_logics.start_headless()
    yield s
    s.close()


def _wait(process, timeout=240):
    state, deadline = panel.RunState(), time.time() + timeout
    while time.time() < deadline:
        state.update(process.poll(), cancelled=process.cancelled)
        if state.state != "running" and not process.running:
            state.update(process.poll(), cancelled=process.cancelled)
            return state
        time.sleep(0.05)
    raise AssertionError("the worker did not finish")


def test_background_comparison_equals_in_process_and_leaves_no_job_folder(session, tmp_path):
    image, _ = phantoms.make_phantom(
        size=(28, 24, 10),
        spacing=(1.0, 1.2, 3.0),
        direction=phantoms.rotation_direction((10.0, 0.0, 20.0)),
        lesion_center_lps=(4.0, -3.0, 2.0),
        lesion_radius_mm=6.0,
    )
    source = volume_nodes.add_volume_from_image(session.scene, image, "patient CT")
    model = tmp_path / "bright.ts.pt"
    torch.jit.trace(BrightSpot().eval(), torch.zeros(1, 1, 10, 24, 28)).save(str(model))
    card = {"spatial_dims": 3, "classes": ["none", "lesion"], "target_layer": "conv"}

    nodes_before = session.scene.GetNumberOfNodes()
    process = explain_node.start_background(source, str(model), card, compare=METHODS, evaluate=CHECKS)
    assert session.scene.GetNumberOfNodes() == nodes_before
    state = _wait(process)
    assert state.state == "done", (state, process.log[-5:])
    folder = process.job_path.parent
    made = explain_node.finish_comparison(process, source)
    assert not folder.exists()

    reference, _ = compare_nodes.compare_volume_node(source, str(model), card, METHODS, **CHECKS)
    background = {r["method"]: r for r in compare_nodes.comparison_of(made["table"])["table"]}
    for row in reference.rows:
        other = background[row["method"]]
        assert other["rank"] == row["rank"]
        assert other["faithfulness_score"] == pytest.approx(row["faithfulness_score"], abs=1e-5)
    assert set(made["heatmaps"]) == set(METHODS)
    for name, node in made["heatmaps"].items():
        assert session.logic("Volumes").CompareVolumeGeometry(node, source) == ""
        expected = volume_nodes.array_for_node(reference.heatmap_images[name], node)
        assert np.allclose(volume_nodes.node_array(node), expected, atol=1e-5)


def test_an_explain_job_holds_no_comparison(session, tmp_path):
    image, _ = phantoms.make_phantom(
        size=(20, 20, 8), spacing=(1.0, 1.0, 3.0), lesion_center_lps=(0, 0, 0), lesion_radius_mm=5.0
    )
    source = volume_nodes.add_volume_from_image(session.scene, image, "ct")
    model = tmp_path / "bright.ts.pt"
    torch.jit.trace(BrightSpot().eval(), torch.zeros(1, 1, 8, 20, 20)).save(str(model))
    process = explain_node.start_background(source, str(model), layers="conv")
    assert _wait(process).state == "done"
    nodes = session.scene.GetNumberOfNodes()
    with pytest.raises(SaliencyError, match="holds no comparison"):
        explain_node.finish_comparison(process, source)
    assert session.scene.GetNumberOfNodes() == nodes and not process.job_path.parent.exists()
