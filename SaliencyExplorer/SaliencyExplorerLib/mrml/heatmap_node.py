"""The heatmap in the MRML scene: a float32 scalar volume on the source's exact grid, shown as an overlay.

Why: a saliency map is a continuous quantity living in the source's patient space. Writing it as a scalar
volume with the source's IJKToRAS matrix and the same parent transform makes it overlay exactly in every
view, survive scene saving, and feed any Slicer module. This module only writes MRML (imports ``slicer``,
never ``qt``) and never touches the source node. Re-running into the same output node replaces its
voxels, display settings, provenance and its derived mask nodes, nothing else.

Nothing the user had is written: a heatmap node carries the attribute :data:`SOURCE_ATTRIBUTE` (the ID of
the volume it explains), and a run writes only into a node this tool made for the same source -- any
other ``output_node`` (another patient's CT, a user's volume, the heatmap of another input) is refused
before the scene changes.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import SaliencyError
from . import color_tables, module_logics, volume_nodes

ATTRIBUTE_PREFIX = "SaliencyExplorer."
LABEL_MAP_ROLE = "SaliencyExplorer.labelMap"
SEGMENTATION_ROLE = "SaliencyExplorer.segmentation"
LABEL_VALUE = 1
SOURCE_ATTRIBUTE = "SaliencyExplorerSourceNodeID"  # not under ATTRIBUTE_PREFIX: provenance is replaced per run


def source_id_of(node) -> str | None:
    """The ID of the volume a heatmap node was made for, or None for any node this tool did not make."""
    return None if node is None else node.GetAttribute(SOURCE_ATTRIBUTE)


def made_for(node, source) -> bool:
    """True if ``node`` is a heatmap this tool wrote for ``source`` (so a re-run may replace it)."""
    return node is not None and source is not None and source_id_of(node) == source.GetID()


def check_source(node) -> None:
    """Refuse anything that is not a scalar volume with voxels, with the fix in the message."""
    if node is None:
        raise SaliencyError("no input volume: select a scalar volume (load one with File > Add Data)")
    if not node.IsA("vtkMRMLScalarVolumeNode"):
        raise SaliencyError(
            f"'{node.GetName()}' is a {node.GetClassName()}, not a scalar volume: select a scalar (grey-value) volume"
        )
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise SaliencyError(f"'{node.GetName()}' is a label map: select the image volume it was drawn on")
    image = node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise SaliencyError(f"volume '{node.GetName()}' has no voxels: load or compute it first")
    if image.GetNumberOfScalarComponents() != 1:
        raise SaliencyError(
            f"'{node.GetName()}' has {image.GetNumberOfScalarComponents()} components per "
            "voxel: convert it with the Vector to Scalar Volume module first"
        )


def _check_output(source, output_node) -> None:
    scene = source.GetScene()
    if output_node is None:
        return
    if output_node is source:
        raise SaliencyError("the output volume is the input volume: pick another output (or 'Create new')")
    elif output_node.IsA("vtkMRMLLabelMapVolumeNode") or not output_node.IsA("vtkMRMLScalarVolumeNode"):
        raise SaliencyError(
            f"output '{output_node.GetName()}' is a {output_node.GetClassName()}: the heatmap "
            "needs a scalar volume, pick one or 'Create new'"
        )
    elif output_node.GetScene() is not scene:
        raise SaliencyError("the output volume belongs to another scene than the input")
    elif source_id_of(output_node) is None:
        raise SaliencyError(
            f"output '{output_node.GetName()}' was not made by Saliency Explorer: only a heatmap "
            "this tool made is ever overwritten; pick 'Create new' (output_node=None)"
        )
    elif not made_for(output_node, source):
        raise SaliencyError(
            f"output '{output_node.GetName()}' is the heatmap of another volume, not of "
            f"'{source.GetName()}': it is kept; pick 'Create new' (output_node=None)"
        )


def checked_threshold(threshold) -> float:
    """The display threshold as a float in [0, 1], or a clear error (heatmaps are normalised to [0, 1])."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise SaliencyError(f"threshold {threshold!r} is not a number: give a value in [0, 1], e.g. 0.3") from None
    if not 0.0 <= value <= 1.0:
        raise SaliencyError(f"threshold {threshold} is outside [0, 1]: heatmaps are normalised to [0, 1]")
    return value


def write_heatmap(
    source,
    heatmap,
    output_node=None,
    *,
    name=None,
    color_map="Inferno",
    threshold=0.2,
    provenance=None,
    label_map=False,
    segmentation=False,
    legend=True,
):
    """Write ``heatmap`` (a SimpleITK image or (k, j, i) array on the source's grid) into a volume node.

    The node gets float32 voxels, the source's IJKToRAS and parent transform, the colour table, window
    [0, 1] and a lower threshold (weaker values are transparent), a colour legend, provenance attributes
    (``SaliencyExplorer.*``), and a place beside the source in the subject hierarchy. On request also a
    label map and/or segmentation of ``heatmap >= threshold``. Returns the heatmap node.
    """
    check_source(source)
    array = volume_nodes.array_for_node(heatmap, source) if hasattr(heatmap, "GetSize") else np.asarray(heatmap)
    dims = source.GetImageData().GetDimensions()
    if array.shape != (dims[2], dims[1], dims[0]):
        raise SaliencyError(
            f"heatmap array shape {array.shape} is not the volume's (k, j, i) shape "
            f"{(dims[2], dims[1], dims[0])}: compute it on the source grid"
        )
    threshold = checked_threshold(threshold)
    _check_output(source, output_node)  # every check before the first change to the scene
    color_id = color_tables.color_node_id(source.GetScene(), color_map)
    node = output_node or source.GetScene().AddNewNodeByClass(
        "vtkMRMLScalarVolumeNode", name or f"{source.GetName()} saliency"
    )

    volume_nodes.set_node_voxels(node, np.asarray(array, dtype=np.float32))
    volume_nodes.copy_geometry(source, node)
    set_display(node, color_id, threshold)
    if legend:
        add_legend(node)
    set_provenance(node, provenance or {})
    node.SetAttribute(SOURCE_ATTRIBUTE, source.GetID())
    place_beside(source, node)
    update_masks(node, float(threshold), label_map=label_map, segmentation=segmentation)
    return node


def set_display(node, color_id: str, threshold: float) -> None:
    """Colour table, fixed window [0, 1], values below ``threshold`` transparent, linear interpolation."""
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(color_id)
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.SetAutoThreshold(False)
    display.SetApplyThreshold(True)
    display.SetThreshold(float(threshold), 1.0e6)
    display.SetInterpolate(True)


def add_legend(node):
    """A colour legend for the heatmap, reused when it already has one; None (with a warning) if impossible.

    Slicer's Colors logic does this with static methods, so any scene works: the application's, one from
    ``start_headless()``, or one a batch script built from plain slicer-core. A scene whose colour logic is
    MRML's plain ``vtkMRMLColorLogic`` (trame-slicer's) does not know the legend node class: it is registered
    here, as Slicer's Colors module registers it on its scene.
    """
    colors = module_logics.import_slicer().vtkSlicerColorLogic
    allow_legends(node.GetScene())
    legend = colors.GetColorLegendDisplayNode(node)
    if legend is None:
        legend = colors.AddDefaultColorLegendDisplayNode(node)
    if legend is None:
        logging.getLogger(__name__).warning("no colour legend for '%s': this scene cannot create one", node.GetName())
        return None
    legend.SetTitleText("Saliency")
    legend.SetVisibility(True)
    return legend


def allow_legends(scene) -> None:
    """Register the colour legend node class on a scene that lacks it (trame-slicer's: MRML's plain
    ``vtkMRMLColorLogic``), as Slicer's Colors module does on its own scene."""
    legend_class = getattr(module_logics.import_slicer(), "vtkMRMLColorLegendDisplayNode", None)
    if scene is not None and legend_class is not None and not scene.IsNodeClassRegistered(legend_class.__name__):
        scene.RegisterNodeClass(legend_class())


def set_provenance(node, provenance: dict) -> None:
    """Replace the node's ``SaliencyExplorer.*`` attributes by ``provenance`` (values as strings)."""
    for attribute in list(node.GetAttributeNames() or []):
        if attribute.startswith(ATTRIBUTE_PREFIX):
            node.RemoveAttribute(attribute)
    for key, value in provenance.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        node.SetAttribute(ATTRIBUTE_PREFIX + key, str(value))


def provenance_of(node) -> dict:
    """The ``SaliencyExplorer.*`` attributes of a node, without the prefix."""
    names = node.GetAttributeNames() or []
    return {a[len(ATTRIBUTE_PREFIX) :]: node.GetAttribute(a) for a in names if a.startswith(ATTRIBUTE_PREFIX)}


def place_beside(source, node) -> None:
    """Put ``node`` under the source's parent item (its study) in the subject hierarchy."""
    sh = source.GetScene().GetSubjectHierarchyNode()
    source_item = sh.GetItemByDataNode(source)
    if not source_item:  # headless: nothing creates items automatically
        source_item = sh.CreateItem(sh.GetSceneItemID(), source)
    parent = sh.GetItemParent(source_item)
    item = sh.GetItemByDataNode(node)
    if not item:
        item = sh.CreateItem(parent, node)
    elif sh.GetItemParent(item) != parent:
        sh.SetItemParent(item, parent)


def _derived(node, role, class_name, name, wanted):
    """The derived node referenced by ``role``, created when wanted, removed when no longer wanted."""
    scene = node.GetScene()
    derived = node.GetNodeReference(role)
    if not wanted:
        if derived is not None:
            node.SetNodeReferenceID(role, None)
            scene.RemoveNode(derived)
        return None
    if derived is None:
        derived = scene.AddNewNodeByClass(class_name, name)
        node.SetNodeReferenceID(role, derived.GetID())
    return derived


def update_masks(node, threshold: float, *, label_map=False, segmentation=False) -> None:
    """Label map and/or segmentation of ``heatmap >= threshold`` on the heatmap's grid (value 1)."""
    array = volume_nodes.node_array(node)
    mask = (array >= threshold).astype(np.uint8) * LABEL_VALUE
    base = node.GetName()
    label = _derived(node, LABEL_MAP_ROLE, "vtkMRMLLabelMapVolumeNode", f"{base} mask", label_map)
    temporary = None
    if segmentation and label is None:
        temporary = label = node.GetScene().AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", f"{base} mask")
    if label is not None:
        volume_nodes.set_node_voxels(label, mask)
        volume_nodes.copy_geometry(node, label)
        if label.GetDisplayNode() is None:
            label.CreateDefaultDisplayNodes()
        place_beside(node, label)
    seg = _derived(node, SEGMENTATION_ROLE, "vtkMRMLSegmentationNode", f"{base} segmentation", segmentation)
    if seg is not None:
        _fill_segmentation(seg, label, threshold)
        place_beside(node, seg)
    if temporary is not None:
        node.GetScene().RemoveNode(temporary)


def _fill_segmentation(seg, label, threshold: float) -> None:
    seg.GetSegmentation().RemoveAllSegments()
    if seg.GetDisplayNode() is None:
        seg.CreateDefaultDisplayNodes()
    seg.SetAndObserveTransformNodeID(label.GetTransformNodeID())
    logic = module_logics.import_slicer().vtkSlicerSegmentationsModuleLogic  # a static method: any scene
    if not logic.ImportLabelmapToSegmentationNode(label, seg):
        raise SaliencyError("Slicer could not turn the thresholded heatmap into a segmentation")
    if seg.GetSegmentation().GetNumberOfSegments() == 0:  # nothing above threshold: keep an empty segment
        seg.GetSegmentation().AddEmptySegment("salient", "salient")
    segment = seg.GetSegmentation().GetNthSegment(0)
    segment.SetName(f"saliency >= {threshold:g}")
    segment.SetColor(1.0, 0.8, 0.1)


def show_in_slice_views(source, heatmap, opacity: float = 0.5) -> None:
    """Source as background and heatmap as foreground of every slice view, at ``opacity``."""
    if not 0.0 <= float(opacity) <= 1.0:
        raise SaliencyError(f"opacity {opacity} is outside [0, 1]")
    scene = heatmap.GetScene()
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        composite = scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        composite.SetBackgroundVolumeID(source.GetID())
        composite.SetForegroundVolumeID(heatmap.GetID())
        composite.SetForegroundOpacity(float(opacity))


def restyle(source, heatmap, color_map="Inferno", threshold=0.2, opacity=None) -> bool:
    """Apply new colour/threshold (and opacity) to an existing heatmap node; False if it is not one of ours.

    The panel calls this when the user moves the threshold or opacity after a run: only display settings
    change (voxels, masks and provenance stay until the next Apply).
    """
    if heatmap is None or not provenance_of(heatmap).get("method"):
        return False
    set_display(heatmap, color_tables.color_node_id(heatmap.GetScene(), color_map), checked_threshold(threshold))
    if opacity is not None and source is not None:
        show_in_slice_views(source, heatmap, opacity)
    return True
