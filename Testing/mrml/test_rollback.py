"""An error while writing the result leaves the scene as it was: the same node IDs, no stray hierarchy items.

Truth: the scene's own node-ID list and subject-hierarchy items, taken before the call. The error is made
to happen at each late step of the write (legend, evaluation table, prediction), after nodes were added.
"""

from __future__ import annotations

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
torch = pytest.importorskip("torch")

from helpers.slicer_models import BrightSpot  # noqa: E402
from helpers.slicer_scene import phantom_node  # noqa: E402
from SaliencyExplorerLib import explain_volume_node  # noqa: E402
from SaliencyExplorerLib.mrml import explain_node, heatmap_node, rollback  # noqa: E402


def _broken(*_args, **_kwargs):
    raise RuntimeError("disk full")


@pytest.mark.parametrize("where", ["legend", "report", "masks"])
def test_an_error_late_in_the_write_removes_everything_it_added(mrml, monkeypatch, where):
    source, _image, _mask = phantom_node(mrml)
    ids, items = rollback.node_ids(mrml.scene), rollback._item_ids(mrml.scene)
    target = {
        "legend": (heatmap_node, "add_legend"),
        "report": (explain_node, "show_report"),
        "masks": (heatmap_node, "update_masks"),
    }[where]
    monkeypatch.setattr(*target, _broken)
    with pytest.raises(RuntimeError, match="disk full"):
        explain_volume_node(source, BrightSpot().eval(), layers="conv", label_map=True)
    assert rollback.node_ids(mrml.scene) == ids
    assert rollback._item_ids(mrml.scene) == items


def test_undone_on_error_keeps_what_a_successful_block_added(mrml):
    before = set(rollback.node_ids(mrml.scene))
    with rollback.undone_on_error(mrml.scene):
        node = mrml.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "kept")
    assert set(rollback.node_ids(mrml.scene)) - before == {node.GetID()}


def test_a_folder_item_made_in_a_failed_block_is_removed(mrml):
    sh = mrml.scene.GetSubjectHierarchyNode()
    items = rollback._item_ids(mrml.scene)
    with pytest.raises(ValueError), rollback.undone_on_error(mrml.scene):
        folder = sh.CreateFolderItem(sh.GetSceneItemID(), "comparison")
        mrml.scene.AddNewNodeByClass("vtkMRMLTableNode", "rows")
        assert folder in rollback._item_ids(mrml.scene)
        raise ValueError("stop")
    assert rollback._item_ids(mrml.scene) == items
