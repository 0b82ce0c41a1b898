"""Slicer table and plot nodes of an evaluation report, created headless with slicer-core."""

import pytest

slicer = pytest.importorskip("slicer")

from SaliencyExplorerLib.mrml.evaluation_nodes import metric_rows, show_evaluation  # noqa: E402

REPORT = {
    "deletion_auc": 0.21,
    "insertion_auc": 0.83,
    "random_deletion_auc": 0.52,
    "random_insertion_auc": 0.5,
    "curves": {
        "fraction": [0.0, 0.5, 1.0],
        "deletion": [0.9, 0.2, 0.1],
        "insertion": [0.1, 0.8, 0.9],
        "random_deletion": [0.9, 0.5, 0.1],
        "random_insertion": [0.1, 0.5, 0.9],
    },
    "sanity": {
        "method": "gradcam",
        "mode": "cascade",
        "threshold": 0.5,
        "flagged": False,
        "layers": [{"layer": "fc", "rank_correlation": 0.8}, {"layer": "conv", "rank_correlation": 0.05}],
    },
    "pointing_hit": True,
    "energy_fraction": 0.625,
    "region_fraction": 0.125,
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
    assert values["Region's share of the image (energy fraction by chance)"] == "0.1250"
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
    again = show_evaluation(
        scene, lean, table_node=first["table"], chart_node=first["chart"], curve_table_node=first["curves"]
    )
    assert again["table"] is first["table"] and again["chart"] is first["chart"]
    assert again["chart"].GetNumberOfPlotSeriesNodes() == 2  # no random curves this time
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == n_series - 2
    _, rows = table_dict(again["table"])
    assert not any("region" in r[0] for r in rows)
    assert len(metric_rows({"deletion_auc": None})) == 4 and metric_rows({"deletion_auc": None})[0][1] == "n/a"


class _Bright(__import__("torch").nn.Module):
    """Evidence only where the 3x3x3 local mean exceeds 100 HU (the phantom's lesion is 160 HU)."""

    def __init__(self):
        import torch

        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)
        self.fc = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 27)
            self.conv.bias.fill_(-100.0)
            self.fc.weight.copy_(torch.tensor([[-10.0], [10.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        import torch

        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("as_segmentation", [False, True])
def test_evaluate_volume_node_headless_with_label_map_or_segment(as_segmentation):
    import SimpleITK as sitk
    from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
    from SaliencyExplorerLib.mrml import volume_nodes
    from SaliencyExplorerLib.mrml.evaluation_nodes import evaluate_volume_node

    scene = slicer.vtkMRMLScene()
    image, mask = make_phantom(
        size=(30, 28, 12),
        spacing=(1.2, 1.2, 2.5),
        direction=rotation_direction((0, 10, 0)),
        lesion_center_lps=(5.0, -3.0, 2.0),
        lesion_radius_mm=5.0,
        seed=1,
    )
    ct = volume_nodes.add_volume_from_image(scene, image, "ct")
    coarse = sitk.Resample(
        mask,
        [s // 2 for s in mask.GetSize()],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        mask.GetOrigin(),
        [2 * s for s in mask.GetSpacing()],
        mask.GetDirection(),
        0,
        sitk.sitkUInt8,
    )
    region = volume_nodes.add_volume_from_image(scene, coarse, "lesion", "vtkMRMLLabelMapVolumeNode")
    if as_segmentation:
        seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lesion seg")
        assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(region, seg)
        region = seg
    before = slicer.util.arrayFromVolume(ct).copy()
    report, nodes = evaluate_volume_node(
        ct, _Bright(), method="gradcam", region_node=region, steps=10, random_repeats=1
    )
    assert report["pointing_hit"] is True and report["energy_fraction"] > 0.5
    assert report["deletion_auc"] < report["random_deletion_auc"]
    assert nodes["table"].GetTable().GetNumberOfRows() == 11  # 4 areas, 4 sanity rows (cascade), 3 localisation
    assert report["region_fraction"] < report["energy_fraction"]  # better than a flat map
    assert nodes["chart"].GetNumberOfPlotSeriesNodes() == 4
    assert (slicer.util.arrayFromVolume(ct) == before).all()  # the source is untouched
    assert scene.GetNumberOfNodesByClass("vtkMRMLLabelMapVolumeNode") == 1  # no temporary node left behind


def test_the_sanity_rows_read_the_whole_cascade():
    """The flag follows the whole cascade: the table shows its lowest point and where the map first changed."""
    report = {
        "sanity": {
            "layers": [{"layer": "fc", "rank_correlation": -0.06}, {"layer": "conv", "rank_correlation": 0.65}],
            "minimum_correlation": -0.06,
            "decorrelated_at": "fc",
            "flagged": False,
        }
    }
    values = dict(metric_rows(report))
    assert values["Sanity: rank correlation after randomising all checked layers"] == "0.6500"
    assert values["Sanity: lowest rank correlation along the cascade"] == "-0.0600"
    assert values["Sanity: first layer whose randomisation changes the map"] == "fc"
    assert values["Sanity: map ignores the model (flagged)"] == "no"
