"""Guided backpropagation (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017).

Why forward hooks that put a gradient hook on each ReLU's output rather than editing modules: the user's
model is never changed (no module replaced, no `inplace` flag flipped), in-place ReLUs keep working,
and removing the hooks in `finally` restores the model exactly even when the forward fails.
ReLUs called as functions (`F.relu`, `torch.relu`) have no module to hook: they are counted and
reported in a warning, because the map is then only partly guided.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ...core.maps import upsample
from ...core.method import get_method, register
from .base import GradientMethod, clean_gradients


def _positive_only(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp_min(0)


_RELU_CALLS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _ReluCounter(TorchFunctionMode):
    """Counts every ReLU call (module or functional); nested calls inside one are not seen twice."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_CALLS:
            self.count += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def guided_relus(model: nn.Module):
    """While active, gradients through every `nn.ReLU` module are guided; yields a report dict."""
    report = {"guided": 0, "all": 0}

    def hook(module, inputs, output):
        # The gradient reaching the ReLU's output is clamped to >= 0; the ReLU's own backward then
        # zeroes it where the unit was inactive: together, exactly the guided rule. No tensor is
        # created in the forward, and an in-place ReLU's output is hooked like any other.
        report["guided"] += 1
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(_positive_only)

    handles = []
    counter = _ReluCounter()
    try:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                handles.append(module.register_forward_hook(hook))
        with counter:
            yield report
    finally:
        for handle in handles:
            handle.remove()
        report["all"] = counter.count


def guided_gradients(run) -> torch.Tensor:
    """Guided gradients at the clean input (N, C, *spatial), with a warning for unguided ReLUs."""
    with guided_relus(run.model) as report:
        grads = clean_gradients(run)
    unguided = report["all"] - report["guided"]
    if report["guided"] == 0:
        run.warnings.append(
            "The model has no nn.ReLU module that ran, so nothing could be guided: the map is the plain "
            "gradient. Guided backprop needs ReLUs as modules (nn.ReLU), not functional relu calls."
        )
    elif unguided > 0:
        run.warnings.append(
            f"{unguided} functional relu call(s) (F.relu/torch.relu) could not be guided; only the "
            f"{report['guided']} nn.ReLU module call(s) were. Use nn.ReLU modules for a fully guided map."
        )
    return grads


@register
class GuidedBackprop(GradientMethod):
    r"""Guided backpropagation (Springenberg et al., ICLR-W 2015): only positive gradients pass active ReLUs.

    .. math:: R^{(l)} = \mathbb{1}[f^{(l)} > 0] \cdot \mathbb{1}[R^{(l+1)} > 0] \cdot R^{(l+1)}

    at every ReLU, down to the input. Sharp edges but weakly class-discriminative; Adebayo et al. show it
    can survive model randomisation, so run the sanity check before trusting it.
    """

    name = "guided-backprop"
    summary = "Guided backprop: only positive gradients through active ReLUs (sharp, class-weak)"
    options = {"reduce": "abs"}

    def attributions(self, run):
        return guided_gradients(run)


@register
class GuidedGradCAM(GradientMethod):
    """Guided backprop's voxel detail gated by Grad-CAM's class-discriminative (rectified) region."""

    name = "guided-gradcam"
    summary = "Guided Grad-CAM: guided backprop x Grad-CAM at the target layer"
    uses_layers = True
    options = {"reduce": "abs"}

    def attributions(self, run):
        cam = get_method("gradcam")().compute(run)  # plain gradients: before any ReLU is guided
        cam = upsample(cam.detach().clamp_min(0), run.spatial_shape)
        return guided_gradients(run) * cam.unsqueeze(1), {"gradcam": cam}
