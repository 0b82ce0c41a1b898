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


# Modules the release before the re-layering documented, by their old names: still importable (every
# form: ``import``, ``from ... import``), each with a DeprecationWarning naming the new place.
_MOVED = {
    "slicer_session": "mrml.module_logics",
    "scene": "mrml.heatmap_node",
    "scene_colors": "mrml.color_tables",
    "scene_metrics": "mrml.evaluation_nodes",
    "volume_node": "mrml.volume_nodes",
    "render": "mrml.rendering",
    "imageio": "volumes.image_files",
    "tensorboard_log": "figures.tensorboard",
    "demo_models": "demo.network",
    "demo_data": "demo.data",
    "phantoms": "demo.phantoms",
    "pipeline": "workflow.explain_image",
    "geometry": "volumes.geometry",
    "intensity": "volumes.intensity",
    "method_options": "core.options",
}


def _install_moved_names():
    import importlib
    import importlib.abc
    import importlib.util
    import sys
    import warnings

    class MovedLoader(importlib.abc.Loader):
        def __init__(self, old):
            self.old = old

        def exec_module(self, module):
            new = f"{__name__}.{_MOVED[self.old]}"
            warnings.warn(
                f"{__name__}.{self.old} moved to {new}; the old name goes in a later release.",
                DeprecationWarning,
                stacklevel=2,
            )
            real = importlib.import_module(new)
            module.__getattr__ = lambda name: getattr(real, name)
            module.__all__ = list(getattr(real, "__all__", [n for n in vars(real) if not n.startswith("_")]))
            module.__doc__ = f"Deprecated alias of {new}."

    class MovedFinder(importlib.abc.MetaPathFinder):
        moved_names = True

        def find_spec(self, fullname, path=None, target=None):
            package, _, old = fullname.rpartition(".")
            if package != __name__ or old not in _MOVED:
                return None
            return importlib.util.spec_from_loader(fullname, MovedLoader(old))

    if not any(getattr(f, "moved_names", False) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())


_install_moved_names()
