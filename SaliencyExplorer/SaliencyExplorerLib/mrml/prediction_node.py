"""The model's own answer in the scene: a segmentation node beside the heatmap (one segment per class).

Why: a map of where the model looked is read against what the model said. The prediction arrives as a
label image on the source's own grid (``explain_image``: nearest neighbour through the heatmap's
geometry); it becomes a ``vtkMRMLSegmentationNode`` via a temporary label map and
``vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode``, one segment per class named
from the card (background 0 is not a segment), in the heatmap's subject-hierarchy folder. It carries the
source's ID (``heatmap_node.SOURCE_ATTRIBUTE``) and :data:`ROLE_ATTRIBUTE`, and a re-run for the same
source replaces that node's segments instead of adding another node.
"""

from __future__ import annotations

import numpy as np

from ..errors import SaliencyError
from . import heatmap_node, module_logics, volume_nodes

ROLE_ATTRIBUTE = "SaliencyExplorerRole"
PREDICTION_ROLE = "prediction"
_COLOURS = [
    (0.9, 0.2, 0.2),
    (0.2, 0.7, 0.3),
    (0.2, 0.4, 0.9),
    (0.95, 0.8, 0.1),
    (0.7, 0.3, 0.8),
    (0.1, 0.8, 0.8),
    (0.95, 0.5, 0.1),
    (0.6, 0.6, 0.6),
]


def prediction_node_for(source):
    """The prediction segmentation this tool made for ``source``, or None."""
    scene = source.GetScene()
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLSegmentationNode")
        if node.GetAttribute(ROLE_ATTRIBUTE) == PREDICTION_ROLE and heatmap_node.made_for(node, source):
            return node
    return None


def write_prediction(source, labels, class_names: dict, *, beside=None, name=None):
    """Add (or refresh) the prediction segmentation of ``source``.

    ``labels``: a SimpleITK label image (or (k, j, i) array) on the source's grid; ``class_names``:
    {label value: name}; ``beside``: the heatmap node whose subject-hierarchy folder receives it.
    """
    heatmap_node.check_source(source)
    array = volume_nodes.array_for_node(labels, source) if hasattr(labels, "GetSize") else np.asarray(labels)
    dims = source.GetImageData().GetDimensions()
    if array.shape != (dims[2], dims[1], dims[0]):
        raise SaliencyError(
            f"the prediction's shape {array.shape} is not the volume's (k, j, i) shape "
            f"{(dims[2], dims[1], dims[0])}: compute it on the source grid"
        )
    if not class_names:
        raise SaliencyError("the prediction has no classes to show: it needs a segmentation model's output")
    scene = source.GetScene()
    logic = module_logics.import_slicer().vtkSlicerSegmentationsModuleLogic  # a static method: any scene
    seg = prediction_node_for(source)
    if seg is None:
        seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or f"{source.GetName()} prediction")
        seg.SetAttribute(ROLE_ATTRIBUTE, PREDICTION_ROLE)
        seg.SetAttribute(heatmap_node.SOURCE_ATTRIBUTE, source.GetID())
    elif name:
        seg.SetName(name)
    if seg.GetDisplayNode() is None:
        seg.CreateDefaultDisplayNodes()
    segmentation = seg.GetSegmentation()
    segmentation.RemoveAllSegments()
    seg.SetAndObserveTransformNodeID(source.GetTransformNodeID())
    label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", f"{seg.GetName()} (temporary)")
    try:
        volume_nodes.copy_geometry(source, label)
        for number, (value, class_name) in enumerate(sorted(class_names.items())):
            mask = (array == value).astype(np.uint8)
            before = segmentation.GetNumberOfSegments()
            if mask.any():
                volume_nodes.set_node_voxels(label, mask)
                volume_nodes.copy_geometry(source, label)
                if not logic.ImportLabelmapToSegmentationNode(label, seg):
                    raise SaliencyError(f"Slicer could not turn the predicted class '{class_name}' into a segment")
            if segmentation.GetNumberOfSegments() == before:  # an absent class still gets its (empty) segment
                segmentation.AddEmptySegment("", str(class_name))
            segment = segmentation.GetNthSegment(segmentation.GetNumberOfSegments() - 1)
            segment.SetName(str(class_name))
            segment.SetColor(*_COLOURS[number % len(_COLOURS)])
            segment.SetTag("SaliencyExplorer.label", str(value))
    finally:
        scene.RemoveNode(label)
    heatmap_node.place_beside(beside if beside is not None else source, seg)
    if beside is not None:
        beside.SetNodeReferenceID("SaliencyExplorer.prediction", seg.GetID())
    return seg


def segment_names(seg) -> list[str]:
    segmentation = seg.GetSegmentation()
    return [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
