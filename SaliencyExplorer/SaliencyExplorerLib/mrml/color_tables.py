"""Colour tables for heatmaps: Slicer's own perceptual tables when present, an equivalent one otherwise.

Why: Slicer ships Inferno, Viridis, Magma and Plasma as colour *files* (node IDs
``vtkMRMLColorTableNodeFile<Name>.txt``) that the application loads but a headless ``slicer-core`` scene
does not have. Heatmaps must look the same in both, so when the file node is missing we build a user
table from the same matplotlib colour map (17 anchors, linear in between: within 0.03 of matplotlib's
256 entries). Slicer's procedural tables ("Iron", "Rainbow", ...) are used as they are.
"""

from __future__ import annotations

import numpy as np

from ..errors import SaliencyError

# matplotlib's maps sampled at 17 evenly spaced points (RGB in [0, 1]).
_ANCHORS = {
    "Inferno": [
        (0.001, 0.000, 0.014),
        (0.042, 0.028, 0.141),
        (0.129, 0.047, 0.291),
        (0.238, 0.037, 0.396),
        (0.342, 0.062, 0.429),
        (0.441, 0.099, 0.432),
        (0.541, 0.135, 0.415),
        (0.640, 0.171, 0.381),
        (0.736, 0.216, 0.330),
        (0.822, 0.275, 0.266),
        (0.894, 0.353, 0.194),
        (0.947, 0.449, 0.115),
        (0.978, 0.558, 0.035),
        (0.988, 0.675, 0.065),
        (0.975, 0.798, 0.206),
        (0.948, 0.917, 0.411),
        (0.988, 0.998, 0.645),
    ],
    "Viridis": [
        (0.267, 0.005, 0.329),
        (0.282, 0.095, 0.417),
        (0.279, 0.175, 0.483),
        (0.259, 0.252, 0.525),
        (0.230, 0.322, 0.546),
        (0.199, 0.388, 0.555),
        (0.173, 0.449, 0.558),
        (0.149, 0.508, 0.557),
        (0.128, 0.567, 0.551),
        (0.121, 0.626, 0.533),
        (0.158, 0.684, 0.502),
        (0.246, 0.739, 0.452),
        (0.369, 0.789, 0.383),
        (0.516, 0.831, 0.294),
        (0.678, 0.864, 0.190),
        (0.846, 0.887, 0.100),
        (0.993, 0.906, 0.144),
    ],
    "Magma": [
        (0.001, 0.000, 0.014),
        (0.040, 0.031, 0.134),
        (0.113, 0.065, 0.277),
        (0.212, 0.062, 0.419),
        (0.317, 0.072, 0.485),
        (0.415, 0.110, 0.505),
        (0.513, 0.148, 0.508),
        (0.614, 0.182, 0.499),
        (0.716, 0.215, 0.475),
        (0.817, 0.256, 0.436),
        (0.904, 0.320, 0.388),
        (0.961, 0.418, 0.360),
        (0.987, 0.536, 0.382),
        (0.996, 0.654, 0.446),
        (0.997, 0.770, 0.535),
        (0.992, 0.884, 0.640),
        (0.987, 0.991, 0.750),
    ],
    "Plasma": [
        (0.050, 0.030, 0.528),
        (0.193, 0.018, 0.590),
        (0.300, 0.010, 0.632),
        (0.399, 0.001, 0.656),
        (0.495, 0.012, 0.658),
        (0.584, 0.069, 0.633),
        (0.665, 0.139, 0.586),
        (0.736, 0.209, 0.528),
        (0.798, 0.280, 0.470),
        (0.853, 0.352, 0.414),
        (0.902, 0.425, 0.360),
        (0.943, 0.503, 0.306),
        (0.973, 0.586, 0.252),
        (0.991, 0.675, 0.198),
        (0.993, 0.772, 0.155),
        (0.974, 0.875, 0.144),
        (0.940, 0.975, 0.131),
    ],
}
# Slicer's procedural tables that work as heatmaps too.
_BUILTIN = {
    "Iron": "vtkMRMLColorTableNodeIron",
    "Rainbow": "vtkMRMLColorTableNodeRainbow",
    "Grey": "vtkMRMLColorTableNodeGrey",
}

COLOR_MAPS = list(_ANCHORS) + list(_BUILTIN)
TABLE_SIZE = 256


def table_rgb(name: str, n: int = TABLE_SIZE) -> np.ndarray:
    """(n, 3) RGB of the equivalent table for a perceptual map (linear between the anchors)."""
    anchors = np.asarray(_ANCHORS[name])
    xs = np.linspace(0.0, 1.0, len(anchors))
    ys = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(ys, xs, anchors[:, c]) for c in range(3)], axis=1)


def color_node_id(scene, name: str = "Inferno") -> str:
    """ID of the colour node for ``name``: Slicer's own when in the scene, else one built once per scene."""
    if name in _BUILTIN:
        node_id = _BUILTIN[name]
        if scene.GetNodeByID(node_id) is None:
            raise SaliencyError(
                f"Slicer's colour table '{name}' is not in this scene: create the scene with "
                "module_logics.start_headless() or with a vtkSlicerColorLogic (it loads the default colours)"
            )
        return node_id
    if name not in _ANCHORS:
        raise SaliencyError(f"unknown colour map '{name}': choose one of {', '.join(COLOR_MAPS)}")
    file_id = f"vtkMRMLColorTableNodeFile{name}.txt"
    if scene.GetNodeByID(file_id) is not None:
        return file_id
    own_name = f"SaliencyExplorer{name}"
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLColorTableNode")
        if node.GetName() == own_name and node.GetAttribute("SaliencyExplorer.colorMap") == name:
            return node.GetID()
    return _add_table(scene, name, own_name).GetID()


def _add_table(scene, name: str, node_name: str):
    import slicer  # noqa: PLC0415  (slicer: only in a Slicer/slicer-core process)

    node = slicer.vtkMRMLColorTableNode()
    node.SetName(node_name)
    node.SetTypeToUser()
    node.SetNumberOfColors(TABLE_SIZE)
    node.GetLookupTable().SetTableRange(0, TABLE_SIZE - 1)
    for i, (r, g, b) in enumerate(table_rgb(name)):
        node.SetColor(i, f"{name} {i}", float(r), float(g), float(b), 1.0)
    node.SetAttribute("SaliencyExplorer.colorMap", name)
    node.SetAttribute("Category", "SaliencyExplorer")
    scene.AddNode(node)
    return node
