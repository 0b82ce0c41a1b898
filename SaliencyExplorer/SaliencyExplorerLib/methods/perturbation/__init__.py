"""Perturbation methods: change part of the input and watch the target score; no gradient, no layer.

``occlusion`` (sliding windows, exhaustive or ``occlusion_fast``) and ``rise`` (random masks) share the
scoring of perturbed batches (``scoring``), the fill values (``fill``), the memory layout choice
(``layout``) and the window geometry (``windows``).
"""

from . import occlusion, rise  # noqa: F401  (registers the methods)

__all__: list[str] = []
