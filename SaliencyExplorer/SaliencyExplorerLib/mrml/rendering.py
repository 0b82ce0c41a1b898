"""A slice view rendered to an RGBA image/PNG without OpenGL: what Slicer's slice view shows, headless.

Why: screenshots for the README and tests that check *pixels* (heatmap colours over the lesion, none far
away) need Slicer's own slice pipeline (reslicing through IJKToRAS and transforms, colour table, window,
threshold, foreground opacity), not a re-implementation. ``vtkMRMLSliceLogic`` produces the blended image
on the CPU. It uses its own slice view name, and removes the nodes it added, so the scene is left as it was.
"""

from __future__ import annotations

import numpy as np

from ..errors import SaliencyError
from . import module_logics

ORIENTATIONS = ("Axial", "Sagittal", "Coronal")


def render_slice(background, foreground=None, **options) -> np.ndarray:
    """Render one slice view to an (height, width, 4) uint8 RGBA array; see :func:`render_slice_geometry`."""
    return render_slice_geometry(background, foreground, **options)[0]


def render_slice_geometry(
    background,
    foreground=None,
    *,
    opacity=0.5,
    orientation="Axial",
    center_ras=None,
    size=(512, 512),
    path=None,
    view_name="SaliencyRender",
):
    """Render one slice: ``background`` volume, optional ``foreground`` overlay at ``opacity``.

    ``center_ras``: a world RAS point the slice plane passes through (default: the background's centre); the
    view stays fitted to the whole background. Returns an (height, width, 4) uint8 array (row 0 = top); writes a PNG when
    ``path`` is given. Also returns the view's XYToRAS 4x4 matrix (pixel (x, y from the bottom) -> RAS).
    """
    slicer = module_logics.import_slicer()
    if orientation not in ORIENTATIONS:
        raise SaliencyError(f"orientation '{orientation}' unknown: use one of {', '.join(ORIENTATIONS)}")
    scene = background.GetScene()
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    logic = slicer.vtkMRMLSliceLogic()
    logic.SetMRMLApplicationLogic(module_logics.application_logic(scene))
    logic.SetMRMLScene(scene)
    try:
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
        slice_node = logic.AddSliceNode(view_name)
        slice_node.SetOrientation(orientation)
        composite = logic.GetSliceCompositeNode()
        composite.SetBackgroundVolumeID(background.GetID())
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(float(opacity))
        logic.ResizeSliceNode(int(size[0]), int(size[1]))
        logic.FitSliceToBackground()
        if center_ras is not None:
            slice_node.JumpSliceByOffsetting(*[float(v) for v in center_ras])  # move the plane, keep the fit
        producer = logic.GetImageDataConnection().GetProducer()
        producer.Update()
        image = producer.GetOutputDataObject(0)
        if path is not None:
            write_png(image, path)
        xy_to_ras = slice_node.GetXYToRAS()
        matrix = np.array([[xy_to_ras.GetElement(r, c) for c in range(4)] for r in range(4)])
        return _to_array(image), matrix
    finally:
        logic.SetMRMLScene(None)
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in [n for n in added if n.GetID() not in before]:  # this view's own nodes
            scene.RemoveNode(node)


def _to_array(image) -> np.ndarray:
    from vtk.util import numpy_support  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    w, h, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    channels = pixels.shape[1] if pixels.ndim == 2 else 1
    return pixels.reshape(h, w, channels)[::-1].copy()  # VTK's row 0 is the bottom


def write_png(image, path) -> None:
    import vtk  # noqa: PLC0415  (vtk: only in a Slicer/slicer-core process)

    writer = vtk.vtkPNGWriter()
    writer.SetInputData(image)
    writer.SetFileName(str(path))
    writer.Write()
