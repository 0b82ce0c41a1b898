"""Single-pass input gradients: vanilla saliency and input x gradient."""

from __future__ import annotations

from . import register
from .base import MethodOutput
from .gradient_base import GradientMethod, check_reduce, clean_gradients, reduce_channels


@register
class Saliency(GradientMethod):
    """Simonyan et al. 2014: how strongly each voxel's value moves the target score (|gradient|)."""

    name = "saliency"
    summary = "Vanilla gradient: |d score / d input| (one forward + one backward)"
    options = {"reduce": "max-abs"}

    def compute(self, run):
        how = check_reduce(run.options["reduce"])
        grad = clean_gradients(run)
        return MethodOutput(reduce_channels(grad, how), {"attributions": grad})


@register
class InputXGradient(GradientMethod):
    """Shrikumar et al. 2016: input x gradient, a first-order estimate of each voxel's contribution."""

    name = "inputxgradient"
    summary = "Input x gradient: signed first-order contribution of each voxel"
    options = {"reduce": "sum"}

    def compute(self, run):
        how = check_reduce(run.options["reduce"])
        attributions = run.x * clean_gradients(run)
        return MethodOutput(reduce_channels(attributions, how), {"attributions": attributions})
