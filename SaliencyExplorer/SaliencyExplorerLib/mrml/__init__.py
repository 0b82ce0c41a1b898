"""Slicer's scene (MRML): the only part of the library that imports ``slicer`` or ``vtk``.

``session`` (module logics for a scene, in the application or headless), ``volume_nodes`` (node <->
SimpleITK image through IJKToRAS), ``heatmap_node`` (the output node: colours, threshold, masks,
placement), ``colors`` (colour tables), ``evaluation_nodes`` (trust report as table + plot),
``rendering`` (a slice view to PNG), ``explain_node`` (``explain_volume_node`` and the background run),
``panel`` (every decision the module's panel makes, without Qt). Nothing here imports ``qt``.
"""

__all__ = ["explain_volume_node"]


def __getattr__(name):  # importing the package must not need slicer (the panel module is plain Python)
    if name == "explain_volume_node":
        from .explain_node import explain_volume_node

        return explain_volume_node
    raise AttributeError(name)
