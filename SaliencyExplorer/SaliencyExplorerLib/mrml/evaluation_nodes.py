"""Evaluation results in the Slicer scene: a small metrics table and the deletion/insertion curves as a
Slicer plot (`vtkMRMLPlotChartNode`), next to the heatmap the panel just made.

Takes the JSON-ready report of `evaluation.evaluate_explanation` and a scene, so it runs the same in the
application and headless with `slicer-core`. Imports `slicer` only inside functions, never `qt`; nodes
passed in are updated in place, so repeated runs reuse one table and one chart.
"""

from __future__ import annotations

import json

from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from ..workflow.explain_and_evaluate import explain_and_evaluate
from . import volume_nodes
from .module_logics import import_slicer
from .tables import fill_table, format_value, node_of, number_column, text_column

CURVES = [  # report key, series name, colour, dashed
    ("deletion", "Deletion", (0.85, 0.2, 0.15), False),
    ("random_deletion", "Deletion (random map)", (0.85, 0.2, 0.15), True),
    ("insertion", "Insertion", (0.15, 0.4, 0.85), False),
    ("random_insertion", "Insertion (random map)", (0.15, 0.4, 0.85), True),
]


def metric_rows(report: dict) -> list[tuple[str, str]]:
    """(metric, value) rows in reading order; localisation rows only when the report has them."""
    rows = [
        ("Deletion AUC (lower is better)", report.get("deletion_auc")),
        ("Deletion AUC, random map", report.get("random_deletion_auc")),
        ("Insertion AUC (higher is better)", report.get("insertion_auc")),
        ("Insertion AUC, random map", report.get("random_insertion_auc")),
    ]
    sanity = report.get("sanity")
    if sanity:
        layers = sanity.get("layers") or []
        last = layers[-1]["rank_correlation"] if layers else None
        rows.append(("Sanity: rank correlation after randomising all checked layers", last))
        if "minimum_correlation" in sanity:  # the verdict reads the whole cascade, not only its last step
            rows.append(("Sanity: lowest rank correlation along the cascade", sanity["minimum_correlation"]))
            rows.append(
                ("Sanity: first layer whose randomisation changes the map", sanity.get("decorrelated_at") or "none")
            )
        rows.append(("Sanity: map ignores the model (flagged)", bool(sanity.get("flagged"))))
    if "pointing_hit" in report:
        rows.append(("Pointing game: peak inside region", report["pointing_hit"]))
    if "energy_fraction" in report:
        rows.append(("Energy fraction inside region", report["energy_fraction"]))
    if "region_fraction" in report:
        rows.append(("Region's share of the image (energy fraction by chance)", report["region_fraction"]))
    return [(name, format_value(value)) for name, value in rows]


def write_metrics_table(scene, report: dict, table_node=None, name: str = "Saliency evaluation"):
    """A two-column vtkMRMLTableNode (Metric, Value) with the report's numbers."""
    rows = metric_rows(report)
    node = node_of(scene, table_node, "vtkMRMLTableNode", name)
    return fill_table(node, [text_column("Metric", [r[0] for r in rows]), text_column("Value", [r[1] for r in rows])])


def write_curve_plot(scene, report: dict, chart_node=None, table_node=None, name: str = "Saliency deletion curve"):
    """Curves table + one plot series per curve + a chart titled with the areas; returns (chart, table)."""
    import_slicer()
    curves = report.get("curves") or {}
    fractions = curves.get("fraction")
    if not fractions:
        raise SaliencyError("The report has no curves to plot; run the faithfulness evaluation first.")
    table = node_of(scene, table_node, "vtkMRMLTableNode", name + " data")
    data = table.GetTable()
    data.Initialize()
    data.AddColumn(number_column("fraction", fractions))
    present = [c for c in CURVES if curves.get(c[0]) and any(v is not None for v in curves[c[0]])]
    for key, _, _, _ in present:
        data.AddColumn(number_column(key, curves[key]))
    data.Modified()
    chart = node_of(scene, chart_node, "vtkMRMLPlotChartNode", name)
    old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    chart.RemoveAllPlotSeriesNodeIDs()
    for series in old:  # our own series from an earlier run: replaced, not left behind
        if series is not None and series.GetScene() is scene:
            scene.RemoveNode(series)
    for key, label, colour, dashed in present:
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(label))
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName("fraction")
        series.SetYColumnName(key)
        series.SetPlotType(series.PlotTypeScatter)
        series.SetMarkerStyle(series.MarkerStyleNone)
        series.SetLineStyle(series.LineStyleDash if dashed else series.LineStyleSolid)
        series.SetColor(*colour)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    auc = report.get("deletion_auc"), report.get("random_deletion_auc")
    chart.SetTitle(f"Deletion AUC {format_value(auc[0])} (random {format_value(auc[1])})")
    chart.SetXAxisTitle("fraction of voxels removed / revealed")
    chart.SetYAxisTitle("target score")
    chart.SetLegendVisibility(True)
    return chart, table


def show_evaluation(
    scene, report: dict, table_node=None, chart_node=None, curve_table_node=None, show_in_layout: bool = False
) -> dict:
    """Table + chart for one report; in the application, optionally puts the chart in the plot view."""
    table = write_metrics_table(scene, report, table_node)
    nodes = {"table": table}
    if (report.get("curves") or {}).get("fraction"):
        nodes["chart"], nodes["curves"] = write_curve_plot(scene, report, chart_node, curve_table_node)
    slicer = import_slicer()
    if show_in_layout and "chart" in nodes and getattr(slicer, "app", None) is not None:
        slicer.modules.plots.logic().ShowChartInLayout(nodes["chart"])
    return nodes


def region_image(region_node, reference_node, segment_id: str | None = None):
    """A label map volume node, or a segmentation node (one segment or all visible), as a SimpleITK image."""

    slicer = import_slicer()
    if region_node.IsA("vtkMRMLSegmentationNode"):
        scene = region_node.GetScene()
        labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName("region"))
        try:
            logic = slicer.vtkSlicerSegmentationsModuleLogic()
            ids = (
                [segment_id]
                if segment_id
                else [
                    region_node.GetSegmentation().GetNthSegmentID(i)
                    for i in range(region_node.GetSegmentation().GetNumberOfSegments())
                ]
            )
            import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

            id_list = vtk.vtkStringArray()
            for value in ids:
                id_list.InsertNextValue(value)
            if not logic.ExportSegmentsToLabelmapNode(region_node, id_list, labels, reference_node):
                raise SaliencyError(f"Could not turn segment(s) {ids} of '{region_node.GetName()}' into a label map.")
            return volume_nodes.node_to_image(labels, world=True)
        finally:
            scene.RemoveNode(labels)
    if not region_node.IsA("vtkMRMLScalarVolumeNode"):
        raise SaliencyError(f"The region '{region_node.GetName()}' must be a label map or a segmentation node.")
    return volume_nodes.node_to_image(region_node, world=True)


EVALUATION_ATTRIBUTE = "SaliencyExplorer.evaluation"
TABLE_ROLE, CHART_ROLE, CURVES_ROLE = "saliencyEvaluationTable", "saliencyEvaluationChart", "saliencyEvaluationCurves"


def attach_evaluation(heatmap_node, report: dict, show_in_layout: bool = False) -> dict:
    """Show `report` beside `heatmap_node` and remember it there; returns the nodes (table, chart, curves).

    Why on the heatmap node: the report belongs to that map. It is stored as JSON in the node attribute
    `EVALUATION_ATTRIBUTE` (saved with the scene, read back with `evaluation_of`), and the table/chart are
    node references, so re-running into the same heatmap node updates the same table and chart.
    """

    scene = heatmap_node.GetScene()
    nodes = show_evaluation(
        scene,
        report,
        heatmap_node.GetNodeReference(TABLE_ROLE),
        heatmap_node.GetNodeReference(CHART_ROLE),
        heatmap_node.GetNodeReference(CURVES_ROLE),
        show_in_layout=show_in_layout,
    )
    heatmap_node.SetAttribute(EVALUATION_ATTRIBUTE, json.dumps(report))
    for role, key in ((TABLE_ROLE, "table"), (CHART_ROLE, "chart"), (CURVES_ROLE, "curves")):
        heatmap_node.SetNodeReferenceID(role, nodes[key].GetID() if key in nodes else None)
    return nodes


def detach_evaluation(heatmap_node) -> None:
    """Forget an earlier run's report on a heatmap node that was just rewritten without evaluation, so
    `evaluation_of` never returns numbers of a different map (the old table/chart nodes stay, unlinked)."""
    heatmap_node.RemoveAttribute(EVALUATION_ATTRIBUTE)
    for role in (TABLE_ROLE, CHART_ROLE, CURVES_ROLE):
        heatmap_node.RemoveNodeReferenceIDs(role)


def evaluation_of(heatmap_node) -> dict | None:
    """The evaluation report stored on a heatmap node by `attach_evaluation` (None when not evaluated)."""

    text = heatmap_node.GetAttribute(EVALUATION_ATTRIBUTE)
    return json.loads(text) if text else None


def evaluate_volume_node(
    volume_node_,
    model,
    card=None,
    method: str = DEFAULT_METHOD,
    layers=None,
    target=None,
    *,
    region_node=None,
    segment_id: str | None = None,
    region_label: int | None = None,
    table_node=None,
    chart_node=None,
    curve_table_node=None,
    device=None,
    trust_code: bool = False,
    trust_pickle: bool = False,
    show_in_layout: bool = False,
    **checks,
):
    """Explain the volume node in-process, evaluate the map, and show the numbers; returns (report, nodes).

    The console/batch counterpart of `evaluate`: `region_node` is a label map (any grid) or a segmentation
    (`segment_id`, default every segment). `checks` go to `evaluate_explanation` (steps, sanity, ...).
    """

    image = volume_nodes.node_to_image(volume_node_, world=True)
    region = None if region_node is None else region_image(region_node, volume_node_, segment_id)
    _, report = explain_and_evaluate(
        image,
        model,
        card,
        method,
        layers,
        target,
        evaluate=checks or True,
        region=region,
        region_label=region_label,
        device=device,
        trust_code=trust_code or trust_pickle,
    )
    nodes = show_evaluation(
        volume_node_.GetScene(), report, table_node, chart_node, curve_table_node, show_in_layout=show_in_layout
    )
    return report, nodes
