"""The registry of explanation methods: one small class per method, registered by name.

Importing this package imports every method module so that each registers itself.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from ..errors import SaliencyError
from .base import Method, MethodOutput

_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available under its `name` (lower case)."""
    key = cls.name.lower()
    if not key or key in _REGISTRY:
        raise RuntimeError(f"method name {cls.name!r} is empty or registered twice")
    _REGISTRY[key] = cls
    return cls


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def available_methods(kind: str | None = None) -> list[str]:
    """Names of all registered methods, optionally only of one kind ("cam", "gradient", "perturbation")."""
    _load_all()
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.kind == kind)


def get_method(name: str) -> type[Method]:
    """The method class for a name; a mistyped name lists the closest valid ones."""
    _load_all()
    key = str(name).lower().replace("_", "-")
    aliases = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++", "grad-cam": "gradcam",
               "grad-cam++": "gradcam++", "score-cam": "scorecam", "ablation-cam": "ablationcam",
               "layer-cam": "layercam", "x-gradcam": "xgradcam", "eigen-cam": "eigencam"}
    key = aliases.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SaliencyError(
            f"Unknown method '{name}'.{hint} Available methods: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[key]


__all__ = ["Method", "MethodOutput", "register", "available_methods", "get_method"]
