"""The contract every explanation method follows.

A method is a small class: it declares what it needs (layers or not), whether its map is signed, and
which options it takes with their defaults; the engine validates options against that list, so a
mistyped option is an error rather than silently ignored.
"""

from __future__ import annotations

import abc
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

    @abc.abstractmethod
    def compute(self, run) -> torch.Tensor | MethodOutput:
        """The map (N, *spatial) for `run.x`, at any spatial size, or a MethodOutput."""

    @classmethod
    def resolve_options(cls, given: dict) -> dict:
        """Defaults overlaid with the caller's options; unknown names are an error naming the valid ones."""
        unknown = sorted(set(given) - set(cls.options))
        if unknown:
            valid = ", ".join(sorted(cls.options)) or "none"
            raise SaliencyError(
                f"Method '{cls.name}' has no option(s) {', '.join(unknown)}. Its options are: {valid}."
            )
        merged = dict(cls.options)
        merged.update(given)
        return merged
