"""SaliencyExplorer's library: explain where a PyTorch model looked, on 2D/3D images, in patient space.

Importable without Slicer and without Qt. Public names are loaded lazily so that light modules
(``scene``, ``card``) can be imported in Slicer before torch is installed.

    from SaliencyExplorerLib import explain, list_layers, available_methods
"""

__version__ = "0.1.0"

_PUBLIC = {
    "explain": ("engine", "explain"),
    "Explanation": ("result", "Explanation"),
    "list_layers": ("layers", "list_layers"),
    "available_methods": ("methods", "available_methods"),
    "SaliencyError": ("errors", "SaliencyError"),
    "ExplanationCancelled": ("errors", "ExplanationCancelled"),
    "explain_image": ("pipeline", "explain_image"),
    "load_model": ("models", "load_model"),
    "load_card": ("card", "load_card"),
    "explain_volume_node": ("slicer_logic", "explain_volume_node"),
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
