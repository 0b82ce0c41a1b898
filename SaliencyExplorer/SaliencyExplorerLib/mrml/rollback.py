"""Undo what a failed write added to a scene: the nodes and subject-hierarchy items made since it began.

Why: ``explain_volume_node`` and the background finish write several nodes (heatmap, display, colour table,
legend, masks, prediction, evaluation tables); an error half way (a scene without a module the step needs,
a full disk) must leave the scene as it was, with the same node IDs, not a half-written heatmap.
A node this tool overwrites in place (a re-run's ``output_node``) keeps what was written into it.
"""

from __future__ import annotations

from contextlib import contextmanager


def node_ids(scene) -> list[str]:
    """IDs of every node in the scene, in the scene's order."""
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def _item_ids(scene) -> set[int]:
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    sh = scene.GetSubjectHierarchyNode()
    ids = vtk.vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), ids, True)
    return {ids.GetId(i) for i in range(ids.GetNumberOfIds())}


@contextmanager
def undone_on_error(scene):
    """Run the block; if it raises anything, remove the nodes and hierarchy items it added, then re-raise."""
    before_nodes = set(node_ids(scene))
    before_items = _item_ids(scene)
    try:
        yield
    except BaseException:
        remove_added(scene, before_nodes, before_items)
        raise


def remove_added(scene, before_nodes: set, before_items: set) -> None:
    """Remove every node (newest first) and subject-hierarchy item not in the ``before`` sets."""
    for node_id in reversed(node_ids(scene)):
        if node_id not in before_nodes:
            node = scene.GetNodeByID(node_id)
            if node is not None:
                scene.RemoveNode(node)
    sh = scene.GetSubjectHierarchyNode()
    for item in sorted(_item_ids(scene) - before_items, reverse=True):  # folders, and items made for old nodes
        if item in _item_ids(scene):
            sh.RemoveItem(item, False, False)
