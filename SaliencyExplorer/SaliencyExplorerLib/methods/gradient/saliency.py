"""Single-pass input gradients: vanilla saliency and input x gradient."""

from __future__ import annotations

from ...core.method import register
from .base import GradientMethod, clean_gradients


@register
class Saliency(GradientMethod):
    """Simonyan et al. 2014: how strongly each voxel's value moves the target score (|gradient|)."""

    name = "saliency"
    summary = "Vanilla gradient: |d score / d input| (one forward + one backward)"
    options = {"reduce": "max-abs"}
    wavefront = True

    def attributions(self, run):
        return clean_gradients(run)


@register
class InputXGradient(GradientMethod):
    """Shrikumar et al. 2016: input x gradient, a first-order estimate of each voxel's contribution."""

    name = "inputxgradient"
    summary = "Input x gradient: signed first-order contribution of each voxel"
    options = {"reduce": "sum"}
    wavefront = True

    def attributions(self, run):
        return run.x * clean_gradients(run)
