"""mrml.tables: Slicer table nodes from plain values, headers from the column names, None shown as empty."""

import math

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")

from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.mrml.tables import fill_table, format_value, node_of, number_column, text_column  # noqa: E402


def test_format_value():
    assert [format_value(v) for v in (None, True, False, 0.123456, 3, "x")] == ["n/a", "yes", "no", "0.1235", "3", "x"]


def test_a_table_node_holds_the_columns_and_is_reused(mrml):
    node = node_of(mrml.scene, None, "vtkMRMLTableNode", "report")
    fill_table(node, [text_column("Metric", ["a", "b"]), number_column("Value", [0.5, None])])
    table = node.GetTable()
    assert (table.GetNumberOfColumns(), table.GetNumberOfRows()) == (2, 2)
    assert table.GetColumn(0).GetValue(1) == "b" and table.GetColumn(1).GetValue(0) == 0.5
    assert math.isnan(table.GetColumn(1).GetValue(1))
    assert node.GetColumnTitle("Metric") == "Metric"
    assert node_of(mrml.scene, node, "vtkMRMLTableNode", "other") is node  # reused, not duplicated
    fill_table(node, [text_column("Only", ["c"])])
    assert (node.GetTable().GetNumberOfColumns(), node.GetTable().GetNumberOfRows()) == (1, 1)
    chart = mrml.scene.AddNewNodeByClass("vtkMRMLPlotChartNode")
    with pytest.raises(SaliencyError, match="Expected a vtkMRMLTableNode"):
        node_of(mrml.scene, chart, "vtkMRMLTableNode", "x")
