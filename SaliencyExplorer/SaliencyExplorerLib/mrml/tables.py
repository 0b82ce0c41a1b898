"""Slicer table nodes from plain values: text and number columns, column titles shown as headers.

Why its own module: the evaluation report, the comparison table and their curve tables are all built this
way; Slicer 5.9+ deprecates the name-based header call, so the choice is made here once.
"""

from __future__ import annotations

from ..errors import SaliencyError
from .module_logics import import_slicer


def format_value(value) -> str:
    """A report value as the table shows it: n/a, yes/no, 4 decimals, or the text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def text_column(name: str, values) -> object:
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    column = vtk.vtkStringArray()
    column.SetName(name)
    for value in values:
        column.InsertNextValue(value)
    return column


def number_column(name: str, values) -> object:
    """A double column; None becomes NaN (an empty cell in Slicer's table view)."""
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    column = vtk.vtkDoubleArray()
    column.SetName(name)
    for value in values:
        column.InsertNextValue(float("nan") if value is None else float(value))
    return column


def node_of(scene, node, class_name: str, name: str):
    """``node`` to update (checked to be a ``class_name``), or a new one named ``name``."""
    if node is None:
        return scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    if not node.IsA(class_name):
        raise SaliencyError(f"Expected a {class_name} to update, got a {node.GetClassName()}.")
    return node


def fill_table(node, columns: list) -> object:
    """Replace the table node's content with ``columns``, their names shown as headers."""
    slicer = import_slicer()
    table = node.GetTable()
    with slicer.util.NodeModify(node):
        table.Initialize()
        for column in columns:
            table.AddColumn(column)
        if hasattr(node, "SetUseColumnTitleAsColumnHeader"):  # Slicer 5.9+: the name-based call is deprecated
            for column in columns:
                node.SetColumnTitle(column.GetName(), column.GetName())
            node.SetUseColumnTitleAsColumnHeader(True)
        else:
            node.SetUseColumnNameAsColumnHeader(True)
    table.Modified()
    return node
