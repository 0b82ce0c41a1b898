"""The heatmap node in a real (headless) MRML scene: geometry, display, masks, hierarchy, provenance, .mrb.

Colour tables: ``test_color_tables.py``; node <-> image conversion: ``test_volume_nodes.py``; the scene's
module logics: ``test_module_logics.py``. The ``mrml`` fixture is in ``Testing/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.slicer_scene import (
    LESION_LPS,
    LESION_RADIUS_MM,
    add_linear_transform,
    lesion_heatmap,
    phantom_node,
    world_ras_of_voxel,
)
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import heatmap_node, volume_nodes


def _peak_world_ras(node):
    array = volume_nodes.node_array(node)
    return world_ras_of_voxel(node, np.unravel_index(np.argmax(array), array.shape))


def _snapshot(node):
    return (
        volume_nodes.node_array(node).copy(),
        volume_nodes.ijk_to_ras(node),
        node.GetTransformNodeID(),
        node.GetMTime(),
    )


def test_geometry_equals_source_and_peak_lies_in_lesion(mrml):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat)
    assert mrml.logic("Volumes").CompareVolumeGeometry(out, source) == ""
    assert np.array_equal(volume_nodes.ijk_to_ras(out), volume_nodes.ijk_to_ras(source))
    assert volume_nodes.node_array(out).dtype == np.float32
    lesion_ras = np.array(LESION_LPS) * [-1, -1, 1]
    assert np.linalg.norm(_peak_world_ras(out) - lesion_ras) < LESION_RADIUS_MM


def test_parent_transform_is_shared_and_peak_follows_it(mrml):
    source, image, mask = phantom_node(mrml)
    transform, matrix = add_linear_transform(mrml.scene)
    source.SetAndObserveTransformNodeID(transform.GetID())
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat)
    assert out.GetTransformNodeID() == transform.GetID()
    lesion_world = (matrix @ np.append(np.array(LESION_LPS) * [-1, -1, 1], 1))[:3]
    assert np.linalg.norm(_peak_world_ras(out) - lesion_world) < LESION_RADIUS_MM
    # and the world geometry seen by the pipeline moves with the transform
    world = volume_nodes.node_to_image(source, world=True)
    expected = volume_nodes.geometry_from_ijk_to_ras(matrix @ volume_nodes.ijk_to_ras(source))
    assert np.allclose(world.GetOrigin(), expected[0]) and np.allclose(world.GetDirection(), expected[2])


def test_display_colour_window_threshold_legend(mrml):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat, threshold=0.35, color_map="Inferno")
    display = out.GetDisplayNode()
    table = mrml.scene.GetNodeByID(display.GetColorNodeID())
    assert table.GetAttribute("SaliencyExplorer.colorMap") == "Inferno"  # headless: our equivalent table
    assert (display.GetWindow(), display.GetLevel()) == (1.0, 0.5)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.35)
    assert not display.GetAutoWindowLevel()
    legend = mrml.logic("Colors").GetColorLegendDisplayNode(out)
    assert legend is not None and legend.GetVisibility() and legend.GetTitleText() == "Saliency"


def test_label_map_and_segmentation_content(mrml):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat, threshold=0.5, label_map=True, segmentation=True)
    label = out.GetNodeReference(heatmap_node.LABEL_MAP_ROLE)
    assert label.IsA("vtkMRMLLabelMapVolumeNode")
    assert np.array_equal(volume_nodes.node_array(label), (heat >= 0.5).astype(np.uint8))
    assert mrml.logic("Volumes").CompareVolumeGeometry(label, source) == ""
    seg = out.GetNodeReference(heatmap_node.SEGMENTATION_ROLE)
    segmentation = seg.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    import vtk

    labelmap = segmentation.GetNthSegment(0).GetRepresentation("Binary labelmap")
    count = np.count_nonzero(vtk.util.numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars()))
    assert count == int((heat >= 0.5).sum())


def test_subject_hierarchy_beside_source(mrml):
    sh = mrml.scene.GetSubjectHierarchyNode()
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Patient 1")
    study = sh.CreateStudyItem(patient, "CT study")
    source, image, mask = phantom_node(mrml)
    sh.CreateItem(study, source)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat, label_map=True)
    assert sh.GetItemParent(sh.GetItemByDataNode(out)) == study
    assert sh.GetItemParent(sh.GetItemByDataNode(out.GetNodeReference(heatmap_node.LABEL_MAP_ROLE))) == study


def test_provenance_replaced_on_rerun_and_only_content_changes(mrml):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(
        source, heat, provenance={"method": "gradcam", "layers": ["l1", "l2"], "score": 0.9}, label_map=True
    )
    assert heatmap_node.provenance_of(out) == {"method": "gradcam", "layers": "l1,l2", "score": "0.9"}
    n_nodes = mrml.scene.GetNumberOfNodes()
    label_id = out.GetNodeReferenceID(heatmap_node.LABEL_MAP_ROLE)
    again = heatmap_node.write_heatmap(
        source, 1.0 - heat, output_node=out, provenance={"method": "hirescam"}, label_map=True
    )
    assert again is out and out.GetNodeReferenceID(heatmap_node.LABEL_MAP_ROLE) == label_id
    assert mrml.scene.GetNumberOfNodes() == n_nodes
    assert heatmap_node.provenance_of(out) == {"method": "hirescam"}
    assert np.allclose(volume_nodes.node_array(out), 1.0 - heat)
    heatmap_node.write_heatmap(source, heat, output_node=out)  # no label map asked: the old one goes
    assert out.GetNodeReference(heatmap_node.LABEL_MAP_ROLE) is None and mrml.scene.GetNodeByID(label_id) is None


def test_source_never_modified(mrml):
    source, image, mask = phantom_node(mrml)
    transform, _ = add_linear_transform(mrml.scene)
    source.SetAndObserveTransformNodeID(transform.GetID())
    before = _snapshot(source)
    heat, _ = lesion_heatmap(image, mask)
    heatmap_node.write_heatmap(source, heat, label_map=True, segmentation=True)
    after = _snapshot(source)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


@pytest.mark.parametrize("bad", ["label", "same", "shape", "threshold", "colour"])
def test_bad_input_raises_and_leaves_scene_unchanged(mrml, bad):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    n_nodes = mrml.scene.GetNumberOfNodes()
    kwargs, target, array = {}, source, heat
    if bad == "label":
        target = mrml.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "lab")
        volume_nodes.set_node_voxels(target, (heat > 0.5).astype(np.uint8))
        n_nodes += 1
    elif bad == "same":
        kwargs["output_node"] = source
    elif bad == "shape":
        array = heat[:, :, :-1]
    elif bad == "threshold":
        kwargs["threshold"] = 1.5
    else:
        kwargs["color_map"] = "NoSuchMap"
    with pytest.raises(SaliencyError, match=r":"):
        heatmap_node.write_heatmap(target, array, **kwargs)
    assert mrml.scene.GetNumberOfNodes() == n_nodes


def test_foreground_helper_sets_every_slice_view(mrml):
    import slicer

    for name in ("Red", "Green"):
        composite = slicer.vtkMRMLSliceCompositeNode()
        composite.SetLayoutName(name)
        mrml.scene.AddNode(composite)
    source, image, mask = phantom_node(mrml)
    out = heatmap_node.write_heatmap(source, lesion_heatmap(image, mask)[0])
    heatmap_node.show_in_slice_views(source, out, opacity=0.6)
    for i in range(2):
        c = mrml.scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        assert (c.GetBackgroundVolumeID(), c.GetForegroundVolumeID()) == (source.GetID(), out.GetID())
        assert c.GetForegroundOpacity() == pytest.approx(0.6)


def test_mrb_round_trip_keeps_everything(mrml, tmp_path):
    from SaliencyExplorerLib.mrml import module_logics

    sh = mrml.scene.GetSubjectHierarchyNode()
    study = sh.CreateStudyItem(sh.CreateSubjectItem(sh.GetSceneItemID(), "P"), "S")
    source, image, mask = phantom_node(mrml)
    sh.CreateItem(study, source)
    transform, _ = add_linear_transform(mrml.scene)
    source.SetAndObserveTransformNodeID(transform.GetID())
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat, threshold=0.3, provenance={"method": "gradcam"}, label_map=True)
    name, voxels, matrix = out.GetName(), volume_nodes.node_array(out), volume_nodes.ijk_to_ras(out)
    path = str(tmp_path / "scene.mrb")
    assert mrml.scene.WriteToMRB(path)

    other = module_logics.start_headless()
    try:
        assert other.scene.ReadFromMRB(path)
        back = other.scene.GetFirstNodeByName(name)
        assert np.array_equal(volume_nodes.node_array(back), voxels)
        assert np.allclose(volume_nodes.ijk_to_ras(back), matrix, atol=1e-9)
        assert back.GetParentTransformNode().GetName() == "patient motion"
        assert heatmap_node.provenance_of(back) == {"method": "gradcam"}
        display = back.GetDisplayNode()
        assert display.GetLowerThreshold() == pytest.approx(0.3) and display.GetWindow() == 1.0
        assert other.scene.GetNodeByID(display.GetColorNodeID()).GetAttribute("SaliencyExplorer.colorMap") == "Inferno"
        label = back.GetNodeReference(heatmap_node.LABEL_MAP_ROLE)
        assert np.array_equal(volume_nodes.node_array(label), (heat >= 0.3).astype(np.uint8))
        bsh = other.scene.GetSubjectHierarchyNode()
        assert bsh.GetItemName(bsh.GetItemParent(bsh.GetItemByDataNode(back))) == "S"
    finally:
        other.close()


def test_restyle_changes_display_only_and_ignores_foreign_nodes(mrml):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    out = heatmap_node.write_heatmap(source, heat, threshold=0.2, provenance={"method": "gradcam"})
    voxels = volume_nodes.node_array(out)
    assert heatmap_node.restyle(source, out, "Viridis", 0.6, opacity=0.4)
    display = out.GetDisplayNode()
    assert display.GetLowerThreshold() == pytest.approx(0.6)
    assert mrml.scene.GetNodeByID(display.GetColorNodeID()).GetAttribute("SaliencyExplorer.colorMap") == "Viridis"
    assert np.array_equal(volume_nodes.node_array(out), voxels)
    assert not heatmap_node.restyle(source, source, "Viridis", 0.6)  # not a heatmap: untouched
    assert source.GetDisplayNode().GetApplyThreshold() == 0


def test_heatmap_image_must_lie_on_the_source_grid(mrml):
    import SimpleITK as sitk

    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask)
    on_grid = sitk.GetImageFromArray(heat)
    on_grid.CopyInformation(image)
    out = heatmap_node.write_heatmap(source, on_grid)  # a SimpleITK image on the source grid is accepted
    assert np.array_equal(volume_nodes.node_array(out), heat)
    shifted = sitk.GetImageFromArray(heat)
    shifted.CopyInformation(image)
    shifted.SetOrigin(tuple(np.array(image.GetOrigin()) + [5.0, 0.0, 0.0]))
    with pytest.raises(SaliencyError, match="elsewhere in patient space"):
        heatmap_node.write_heatmap(source, shifted)
