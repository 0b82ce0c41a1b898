"""Slicer table and plot nodes of an evaluation report, created headless with slicer-core."""

import pytest

slicer = pytest.importorskip("slicer")

from SaliencyExplorerLib.scene_metrics import metric_rows, show_evaluation  # noqa: E402

REPORT = {
    "deletion_auc": 0.21, "insertion_auc": 0.83, "random_deletion_auc": 0.52, "random_insertion_auc": 0.5,
    "curves": {"fraction": [0.0, 0.5, 1.0], "deletion": [0.9, 0.2, 0.1], "insertion": [0.1, 0.8, 0.9],
               "random_deletion": [0.9, 0.5, 0.1], "random_insertion": [0.1, 0.5, 0.9]},
    "sanity": {"method": "gradcam", "mode": "cascade", "threshold": 0.5, "flagged": False,
               "layers": [{"layer": "fc", "rank_correlation": 0.8}, {"layer": "conv", "rank_correlation": 0.05}]},
    "pointing_hit": True, "energy_fraction": 0.625,
}


def table_dict(node):
    table = node.GetTable()
    names = [table.GetColumn(i).GetName() for i in range(table.GetNumberOfColumns())]
    return names, [[table.GetValue(r, c).ToString() for c in range(len(names))] for r in range(table.GetNumberOfRows())]


def test_table_and_chart_nodes_hold_the_report_values():
    scene = slicer.vtkMRMLScene()
    nodes = show_evaluation(scene, REPORT)
    names, rows = table_dict(nodes["table"])
    assert names == ["Metric", "Value"]
    values = dict(rows)
    assert values["Deletion AUC (lower is better)"] == "0.2100"
    assert values["Insertion AUC, random map"] == "0.5000"
    assert values["Sanity: rank correlation after randomising all checked layers"] == "0.0500"
    assert values["Sanity: map ignores the model (flagged)"] == "no"
    assert values["Pointing game: peak inside region"] == "yes"
    assert values["Energy fraction inside region"] == "0.6250"
    chart = nodes["chart"]
    assert chart.IsA("vtkMRMLPlotChartNode") and chart.GetNumberOfPlotSeriesNodes() == 4
    series = chart.GetNthPlotSeriesNode(0)
    assert (series.GetXColumnName(), series.GetYColumnName()) == ("fraction", "deletion")
    data = series.GetTableNode().GetTable()
    column = data.GetColumnByName("deletion")
    assert [column.GetValue(i) for i in range(3)] == pytest.approx([0.9, 0.2, 0.1])
    assert "0.2100" in chart.GetTitle() and "0.5200" in chart.GetTitle()


def test_nodes_are_reused_and_rows_follow_the_report():
    scene = slicer.vtkMRMLScene()
    first = show_evaluation(scene, REPORT)
    n_series = scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode")
    lean = {k: v for k, v in REPORT.items() if k not in ("pointing_hit", "energy_fraction")}
    lean["curves"] = {"fraction": [0, 1], "deletion": [1.0, 0.0], "insertion": [0.0, 1.0]}
    again = show_evaluation(scene, lean, table_node=first["table"], chart_node=first["chart"],
                            curve_table_node=first["curves"])
    assert again["table"] is first["table"] and again["chart"] is first["chart"]
    assert again["chart"].GetNumberOfPlotSeriesNodes() == 2  # no random curves this time
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == n_series - 2
    _, rows = table_dict(again["table"])
    assert not any("region" in r[0] for r in rows)
    assert len(metric_rows({"deletion_auc": None})) == 4 and metric_rows({"deletion_auc": None})[0][1] == "n/a"
