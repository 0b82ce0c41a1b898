"""SaliencyExplorer's library: explain where a PyTorch model looked, on 2D/3D images, in patient space.

Importable without Slicer and without Qt. Public names are loaded lazily so that light modules
(``mrml.heatmap_node``, ``card``) can be imported in Slicer before torch is installed.

    from SaliencyExplorerLib import explain, list_layers, available_methods
"""

from .version import __version__

_PUBLIC = {
    "explain": ("core.engine", "explain"),
    "Explanation": ("core.result", "Explanation"),
    "list_layers": ("core.layers", "list_layers"),
    "available_methods": ("core.method", "available_methods"),
    "SaliencyError": ("errors", "SaliencyError"),
    "ExplanationCancelled": ("errors", "ExplanationCancelled"),
    "explain_image": ("workflow.explain_image", "explain_image"),
    "load_model": ("models.loading", "load_model"),
    "load_card": ("card", "load_card"),
    "explain_volume_node": ("mrml.explain_node", "explain_volume_node"),
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'SaliencyExplorerLib' has no attribute {name!r}")
    import importlib

    module_name, attr = _PUBLIC[name]
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)
    globals()[name] = value
    return value
