"""compare_volume_node in a headless Slicer scene: a heatmap node per method in one subject-hierarchy
folder, a table sorted by rank, a plot of every method's curves; the source node untouched."""

import numpy as np
import pytest
import torch

slicer = pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")

from helpers.model_files import TINY_GRID_CARD  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.demo.network import LesionNet  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.mrml import volume_nodes  # noqa: E402
from SaliencyExplorerLib.mrml.compare_nodes import compare_volume_node  # noqa: E402

CARD = TINY_GRID_CARD


def test_one_heatmap_per_method_a_ranked_table_and_a_plot(mrml):
    torch.manual_seed(0)
    model = LesionNet(width=2).eval()
    image, mask = phantoms.make_phantom(
        size=(24, 22, 12),
        spacing=(2.0, 2.2, 4.0),
        direction=phantoms.rotation_direction((10.0, 0.0, 5.0)),
        lesion_center_lps=(3.0, -2.0, 1.0),
        lesion_radius_mm=6.0,
    )
    scene = mrml.scene
    node = volume_nodes.add_volume_from_image(scene, image, "patient")
    region = volume_nodes.add_volume_from_image(scene, mask, "lesion", "vtkMRMLLabelMapVolumeNode")
    before = slicer.util.arrayFromVolume(node).copy()
    result, nodes = compare_volume_node(
        node, model, CARD, ["gradcam", "saliency"], region_node=region, steps=6, random_repeats=1, sanity_layers=1
    )
    assert np.array_equal(slicer.util.arrayFromVolume(node), before)
    assert set(nodes["heatmaps"]) == {"gradcam", "saliency"}
    sh = scene.GetSubjectHierarchyNode()
    for heat in nodes["heatmaps"].values():
        assert sh.GetItemParent(sh.GetItemByDataNode(heat)) == nodes["folder"]
        assert slicer.util.arrayFromVolume(heat).shape == before.shape
        assert heat.GetAttribute("SaliencyExplorer.method") in ("gradcam", "saliency")
    for key in ("table", "chart", "curves"):
        assert sh.GetItemParent(sh.GetItemByDataNode(nodes[key])) == nodes["folder"]
    table = nodes["table"].GetTable()
    assert table.GetNumberOfRows() == 2
    methods = [table.GetValueByName(i, "Method").ToString() for i in range(2)]
    assert methods == [r["method"] for r in result.rows]
    assert [table.GetValueByName(i, "Rank").ToString() for i in range(2)] == ["1", "2"]
    scores = [table.GetValueByName(i, "Faithfulness score").ToDouble() for i in range(2)]
    assert scores[0] >= scores[1]
    assert nodes["chart"].GetNumberOfPlotSeriesNodes() == 2 * 2 + 2  # each method's two curves + random
    assert all("pointing_hit" in r and "energy_fraction" in r for r in result.rows)


def test_a_label_map_is_refused_as_the_source(mrml):
    image, mask = phantoms.make_phantom(size=(8, 8, 8), spacing=(2.0, 2.0, 2.0), lesion_radius_mm=3.0)
    node = volume_nodes.add_volume_from_image(mrml.scene, image, "patient")
    labels = mrml.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    with pytest.raises(SaliencyError, match="label map|no voxels"):
        compare_volume_node(labels, LesionNet(width=2), CARD, ["saliency"])
    with pytest.raises(SaliencyError, match="threshold"):
        compare_volume_node(node, LesionNet(width=2), CARD, ["saliency"], threshold=2)
