"""The contract every explanation method follows, and the registry that finds a method by name.

A method is a small class: it declares what it needs (layers or not), whether its map is signed, and
which options it takes with their defaults; the engine validates options against that list, so a
mistyped option is an error rather than silently ignored.

Why the registry lives here and the methods one layer up (``methods/``): ``explain()`` looks a method up
by name, and the methods use the engine's machinery (maps, targets, batching). Method classes register
themselves with :func:`register` when ``SaliencyExplorerLib.methods`` is imported; the first lookup
imports that package by name, as Slicer's SegmentStatistics loads its plugins. That one load by name is
the only way ``core`` reaches ``methods``.
"""

from __future__ import annotations

import abc
import difflib
import importlib
from dataclasses import dataclass, field

import torch

from ..errors import SaliencyError


@dataclass
class MethodOutput:
    """What `compute` may return instead of a bare map: the map plus arrays worth keeping."""

    map: torch.Tensor  # (N, *spatial), any spatial size; the engine upsamples to the input size
    extras: dict = field(default_factory=dict)  # e.g. "attributions" (N, C, *spatial), "per_class"


class Method(abc.ABC):
    """Base class. Subclasses set the class attributes and implement `compute(run)`."""

    name: str = ""
    kind: str = ""  # "cam", "gradient" or "perturbation"
    uses_layers: bool = False
    signed: bool = False  # True: values may be negative and meaningful, so ReLU is off by default
    options: dict = {}  # option name -> default value
    summary: str = ""
    aliases: tuple = ()  # other spellings users type ("grad-cam"); looked up like the name
    # Under sliding-window inference (core/windowed_run.py): None = run on the blended model as a whole;
    # "blend" = run per window batch, maps blended with the importance weights; "sum" = run per window
    # batch, extras["attributions"] added (exact gradients of the blended score), then `from_window_sum`.
    window_combine: str | None = None

    @abc.abstractmethod
    def compute(self, run) -> torch.Tensor | MethodOutput:
        """The map (N, *spatial) for `run.x`, at any spatial size, or a MethodOutput."""

    def from_window_sum(self, attributions: torch.Tensor, run) -> MethodOutput:
        """The output for per-channel attributions summed over sliding windows (window_combine "sum")."""
        raise SaliencyError(
            f"{self.name} cannot be summed over sliding windows (window_combine is "
            f"{self.window_combine!r}); explain the whole grid (a card without 'inference')."
        )

    @classmethod
    def resolve_options(cls, given: dict) -> dict:
        """Defaults overlaid with the caller's options; unknown names are an error naming the valid ones."""
        unknown = sorted(set(given) - set(cls.options))
        if unknown:
            valid = ", ".join(sorted(cls.options)) or "none"
            raise SaliencyError(f"Method '{cls.name}' has no option(s) {', '.join(unknown)}. Its options are: {valid}.")
        merged = dict(cls.options)
        merged.update(given)
        return merged


_REGISTRY: dict[str, type[Method]] = {}
_ALIASES: dict[str, str] = {}
METHODS_PACKAGE = __name__.rsplit(".", 2)[0] + ".methods"


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available under its `name` (lower case) and its `aliases`."""
    key = cls.name.lower()
    if not key or key in _REGISTRY:
        raise RuntimeError(f"method name {cls.name!r} is empty or registered twice")
    _REGISTRY[key] = cls
    for alias in cls.aliases:
        _ALIASES[_key(alias)] = key
    return cls


def _key(name) -> str:
    return str(name).lower().replace("_", "-")


def _load_all() -> None:
    importlib.import_module(METHODS_PACKAGE)  # each method module registers itself on import


def available_methods(kind: str | None = None) -> list[str]:
    """Names of all registered methods, optionally only of one kind ("cam", "gradient", "perturbation")."""
    _load_all()
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.kind == kind)


def get_method(name: str) -> type[Method]:
    """The method class for a name or alias; a mistyped name lists the closest valid ones."""
    _load_all()
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SaliencyError(f"Unknown method '{name}'.{hint} Available methods: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[key]
