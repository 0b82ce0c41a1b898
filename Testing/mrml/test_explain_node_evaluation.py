"""The panel's "Evaluate" option end to end on real MRML: worker job -> result.json -> table + plot nodes,
and the same numbers from the in-process console path (explain_volume_node(evaluate=True)).

Truth is independent of the code under test: the BrightSpot model answers only to the phantom's lesion,
so its map must beat a random map on deletion and insertion, its peak must fall in the lesion's label
map and not in a box far from it, and the energy fraction is recomputed here from the heatmap node's
voxels and the lesion mask on the same grid.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.slicer_models import bright_spot_file
from helpers.slicer_scene import phantom_node
from SaliencyExplorerLib import explain_volume_node
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import explain_node, panel, volume_nodes
from SaliencyExplorerLib.mrml.evaluation_nodes import CHART_ROLE, TABLE_ROLE, evaluation_of

CHECKS = dict(panel.PANEL_EVALUATION)
KEYS = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc")


def _drain(process, timeout=120):
    state, end = panel.RunState(), time.time() + timeout
    while time.time() < end:
        batch = process.poll()
        state.update(batch, cancelled=process.cancelled)
        if any(kind == "exit" for kind, _ in batch):
            return state
        time.sleep(0.05)
    raise AssertionError("the worker did not finish in time")


def _label_node(scene, mask: sitk.Image, name="lesion"):
    return volume_nodes.add_volume_from_image(
        scene, sitk.Cast(mask > 0, sitk.sitkUInt8), name, "vtkMRMLLabelMapVolumeNode"
    )


def _table(node) -> dict:
    table = node.GetTable()
    return {table.GetValue(r, 0).ToString(): table.GetValue(r, 1).ToString() for r in range(table.GetNumberOfRows())}


def _check_against_truth(report, heat_node, mask):
    assert report["deletion_auc"] < report["random_deletion_auc"]
    assert report["insertion_auc"] > report["random_insertion_auc"]
    assert [entry["layer"] for entry in report["sanity"]["layers"]]  # checked layers, each with a correlation
    assert report["pointing_hit"] is True
    heat = volume_nodes.node_array(heat_node).astype(float)
    inside = sitk.GetArrayFromImage(mask) > 0
    assert report["energy_fraction"] == pytest.approx(heat[inside].sum() / heat.sum(), abs=1e-4)
    assert report["energy_fraction"] > report["region_fraction"] == pytest.approx(inside.mean(), abs=1e-6)


def _check_nodes_show(report, heat_node):
    table, chart = heat_node.GetNodeReference(TABLE_ROLE), heat_node.GetNodeReference(CHART_ROLE)
    assert table.IsA("vtkMRMLTableNode") and chart.IsA("vtkMRMLPlotChartNode")
    rows = _table(table)
    assert rows["Deletion AUC (lower is better)"] == f"{report['deletion_auc']:.4f}"
    assert rows["Insertion AUC, random map"] == f"{report['random_insertion_auc']:.4f}"
    assert rows["Energy fraction inside region"] == f"{report['energy_fraction']:.4f}"
    assert rows["Pointing game: peak inside region"] == "yes"
    series = {
        chart.GetNthPlotSeriesNode(i).GetYColumnName(): chart.GetNthPlotSeriesNode(i)
        for i in range(chart.GetNumberOfPlotSeriesNodes())
    }
    assert set(series) == {"deletion", "insertion", "random_deletion", "random_insertion"}
    column = series["deletion"].GetTableNode().GetTable().GetColumnByName("deletion")
    values = [column.GetValue(i) for i in range(column.GetNumberOfTuples())]
    assert values == pytest.approx(report["curves"]["deletion"])
    assert len(values) == CHECKS["steps"] + 1


def test_worker_evaluates_and_finish_shows_the_same_numbers_as_in_process(mrml, tmp_path):
    source, _, mask = phantom_node(mrml)
    region = _label_node(mrml.scene, mask)
    model = str(bright_spot_file(tmp_path))
    process = explain_node.start_background(source, model, layers="conv", evaluate=CHECKS, region=region)
    state = _drain(process)
    assert state.state == "done", (state, process.log[-5:])
    stored = json.loads(process.result_path.read_text())["evaluation"]
    assert all(isinstance(stored[k], float) for k in KEYS) and "sanity" in stored and "pointing_hit" in stored
    heat = explain_node.finish_background(process, source)
    assert evaluation_of(heat) == stored
    _check_against_truth(stored, heat, mask)
    _check_nodes_show(stored, heat)

    # The console path, with the region as a segmentation this time: the same numbers.
    segmentation = mrml.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lesion seg")
    assert mrml.logic("Segmentations").ImportLabelmapToSegmentationNode(region, segmentation)
    direct = explain_volume_node(source, model, layers="conv", evaluate=CHECKS, region=segmentation)
    report = evaluation_of(direct)
    for key in (*KEYS, "energy_fraction", "region_fraction"):
        assert report[key] == pytest.approx(stored[key], abs=1e-6), key
    assert np.allclose(volume_nodes.node_array(direct), volume_nodes.node_array(heat), atol=1e-6)
    _check_nodes_show(report, direct)
    assert direct.GetNodeReference(TABLE_ROLE) is not heat.GetNodeReference(TABLE_ROLE)  # one table per heatmap


def test_rerun_reuses_the_table_and_a_plain_run_drops_the_stale_report(mrml, tmp_path):
    source, image, mask = phantom_node(mrml)
    model = str(bright_spot_file(tmp_path))
    far = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    far.CopyInformation(image)
    far[0:6, 0:6, 0:3] = 1  # a corner box, far from the lesion
    heat = explain_volume_node(
        source, model, layers="conv", evaluate=dict(CHECKS, sanity=False), region=_label_node(mrml.scene, far, "corner")
    )
    report, table = evaluation_of(heat), heat.GetNodeReference(TABLE_ROLE)
    assert report["pointing_hit"] is False and report["energy_fraction"] < 0.01
    assert "sanity" not in report and report["deletion_auc"] < report["random_deletion_auc"]
    n_tables = mrml.scene.GetNumberOfNodesByClass("vtkMRMLTableNode")

    again = explain_volume_node(
        source,
        model,
        layers="conv",
        output_node=heat,
        evaluate=dict(CHECKS, sanity=False),
        region=_label_node(mrml.scene, mask),
    )
    assert again is heat and heat.GetNodeReference(TABLE_ROLE) is table
    assert mrml.scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == n_tables
    assert _table(table)["Pointing game: peak inside region"] == "yes"

    explain_volume_node(source, model, layers="conv", output_node=heat)
    assert evaluation_of(heat) is None and heat.GetNodeReference(TABLE_ROLE) is None


def test_region_without_evaluate_is_refused_and_the_scene_is_unchanged(mrml, tmp_path):
    source, _, mask = phantom_node(mrml)
    region = _label_node(mrml.scene, mask)
    model = str(bright_spot_file(tmp_path))
    count = mrml.scene.GetNumberOfNodes()
    with pytest.raises(SaliencyError, match="evaluate"):
        explain_volume_node(source, model, layers="conv", region=region)
    with pytest.raises(SaliencyError, match="Evaluate"):
        explain_node.start_background(source, model, layers="conv", region=region)
    assert mrml.scene.GetNumberOfNodes() == count
