"""A method comparison in the Slicer scene: one heatmap node per method in a subject-hierarchy folder, a
table node sorted by rank, and a plot of every method's deletion and insertion curves.

Imports ``slicer`` only inside functions and never ``qt``, so it runs in the application and headless
with ``slicer-core``. The source volume node is never modified.
"""

from __future__ import annotations

import json

from ..errors import SaliencyError
from ..workflow.compare_image import compare_image
from ..workflow.explain_and_evaluate import _torch_errors
from . import heatmap_node, volume_nodes
from .evaluation_nodes import region_image
from .module_logics import import_slicer
from .tables import fill_table, format_value, number_column, text_column

# (column title, row key, kind)
TABLE_COLUMNS = [
    ("Rank", "rank", "text"),
    ("Method", "method", "text"),
    ("Faithfulness score", "faithfulness_score", "number"),
    ("Deletion AUC", "deletion_auc", "number"),
    ("Insertion AUC", "insertion_auc", "number"),
    ("Deletion AUC, random", "random_deletion_auc", "number"),
    ("Insertion AUC, random", "random_insertion_auc", "number"),
    ("Sanity flagged", "sanity_flagged", "text"),
    ("Pointing hit", "pointing_hit", "text"),
    ("Energy fraction", "energy_fraction", "number"),
    ("Seconds", "seconds", "number"),
    ("Error", "error", "text"),
]
COMPARISON_ATTRIBUTE = "SaliencyExplorer.comparison"  # the whole comparison (JSON) on its table node
PALETTE = [
    (0.12, 0.47, 0.71),
    (1.0, 0.5, 0.05),
    (0.17, 0.63, 0.17),
    (0.84, 0.15, 0.16),
    (0.58, 0.4, 0.74),
    (0.55, 0.34, 0.29),
    (0.89, 0.47, 0.76),
    (0.5, 0.5, 0.5),
    (0.74, 0.74, 0.13),
    (0.09, 0.75, 0.81),
]


def _key(name: str) -> str:
    return name.replace("+", "plus").replace("-", "_")


def write_comparison_table(scene, rows: list, name: str = "Saliency comparison"):
    """A vtkMRMLTableNode, one row per method, best rank first."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    columns = [
        number_column(title, [row.get(key) for row in rows])
        if kind == "number"
        else text_column(title, ["" if row.get(key) is None else format_value(row.get(key)) for row in rows])
        for title, key, kind in TABLE_COLUMNS
    ]
    return fill_table(node, columns)


def write_comparison_plot(scene, curves: dict, rows: list, name: str = "Saliency comparison curves"):
    """Curves table + a chart: each method's deletion (solid) and insertion (dashed), random in grey."""
    import_slicer()
    fractions = curves.get("fraction")
    if not fractions:
        raise SaliencyError("The comparison has no curves to plot; every method failed. Read the table's errors.")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name + " data"))
    data = table.GetTable()
    data.Initialize()
    data.AddColumn(number_column("fraction", fractions))
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(name))
    series_nodes = []
    methods = [r["method"] for r in rows if r["method"] in curves]
    entries = [
        (m, kind, curves[m][kind], PALETTE[i % len(PALETTE)])
        for i, m in enumerate(methods)
        for kind in ("deletion", "insertion")
    ]
    entries += [
        ("random", kind, curves[f"random_{kind}"], (0.3, 0.3, 0.3))
        for kind in ("deletion", "insertion")
        if curves.get(f"random_{kind}")
    ]
    for method, kind, values, colour in entries:
        column = f"{_key(method)}_{kind}"
        data.AddColumn(number_column(column, values))
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", scene.GenerateUniqueName(f"{method} {kind}"))
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName("fraction")
        series.SetYColumnName(column)
        series.SetPlotType(series.PlotTypeScatter)
        series.SetMarkerStyle(series.MarkerStyleNone)
        series.SetLineStyle(series.LineStyleSolid if kind == "deletion" else series.LineStyleDash)
        series.SetColor(*colour)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
        series_nodes.append(series)
    data.Modified()
    chart.SetTitle("Deletion (solid, lower is better) and insertion (dashed, higher is better)")
    chart.SetXAxisTitle("fraction of voxels removed / revealed")
    chart.SetYAxisTitle("target probability")
    chart.SetLegendVisibility(True)
    return chart, table, series_nodes


def show_comparison(
    source_node, result, folder_name: str | None = None, threshold: float = 0.2, show_in_layout: bool = False
) -> dict:
    """Put a `compare_image` result in the scene beside ``source_node``; returns the nodes made."""
    slicer = import_slicer()
    scene = source_node.GetScene()
    heatmap_node.check_source(source_node)
    sh = scene.GetSubjectHierarchyNode()
    source_item = sh.GetItemByDataNode(source_node) or sh.CreateItem(sh.GetSceneItemID(), source_node)
    folder = sh.CreateFolderItem(
        sh.GetItemParent(source_item), folder_name or scene.GenerateUniqueName(f"{source_node.GetName()} comparison")
    )
    rows = result.rows
    heatmaps = {}
    for row in rows:
        name = row["method"]
        if name not in result.heatmap_images:
            continue
        provenance = {
            "method": name,
            "rank": row.get("rank"),
            "faithfulnessScore": row.get("faithfulness_score"),
            "sanityFlagged": row.get("sanity_flagged"),
            "source": source_node.GetID(),
            "target": result.target_name or result.target_index,
        }
        node = heatmap_node.write_heatmap(
            source_node,
            result.heatmap_images[name],
            name=f"{source_node.GetName()} {name}",
            threshold=threshold,
            provenance=provenance,
            legend=False,
        )
        sh.SetItemParent(sh.GetItemByDataNode(node), folder)
        heatmaps[name] = node
    table = write_comparison_table(scene, rows, f"{source_node.GetName()} comparison")
    table.SetAttribute(COMPARISON_ATTRIBUTE, json.dumps(result.to_dict(curves=False)))
    chart, curve_table, series = write_comparison_plot(
        scene, result.comparison.curves, rows, f"{source_node.GetName()} comparison curves"
    )
    for node in [table, chart, curve_table, *series]:
        item = sh.GetItemByDataNode(node) or sh.CreateItem(folder, node)
        sh.SetItemParent(item, folder)
    if show_in_layout and getattr(slicer, "app", None) is not None:
        slicer.modules.plots.logic().ShowChartInLayout(chart)
    return {"folder": folder, "heatmaps": heatmaps, "table": table, "chart": chart, "curves": curve_table}


def comparison_of(table_node) -> dict | None:
    """The comparison stored on a comparison table node (ranking, table rows, sanity, settings), or None."""
    text = table_node.GetAttribute(COMPARISON_ATTRIBUTE) if table_node is not None else None
    return json.loads(text) if text else None


def compare_volume_node(
    volume_node,
    model,
    card=None,
    methods=None,
    target=None,
    *,
    region_node=None,
    segment_id: str | None = None,
    region_label: int | None = None,
    device=None,
    trust_code: bool = False,
    threshold: float = 0.2,
    show_in_layout: bool = False,
    **checks,
):
    """Compare methods on a volume node in-process and show the result; returns (VolumeComparison, nodes).

    ``region_node``: a label map (any grid) or a segmentation (``segment_id``, default every segment) for
    the pointing game and energy fraction. ``checks`` go to ``compare_methods`` (steps, sanity_layers, ...).
    """

    heatmap_node.check_source(volume_node)
    heatmap_node.checked_threshold(threshold)
    image = volume_nodes.node_to_image(volume_node, world=True)
    region = None if region_node is None else region_image(region_node, volume_node, segment_id)
    with _torch_errors():
        result = compare_image(
            image,
            model,
            card,
            methods,
            target,
            region=region,
            region_label=region_label,
            device=device,
            trust_code=trust_code,
            **checks,
        )
    return result, show_comparison(volume_node, result, threshold=threshold, show_in_layout=show_in_layout)
