"""Gradient-weighted and weight-based class activation maps (one small class each)."""

from __future__ import annotations

import torch
from torch import nn

from ...errors import SaliencyError
from ...core.layers import resolve_layer
from ...core.method import register
from .base import CamMethod, spatial_mean, spatial_sum


@register
class GradCAM(CamMethod):
    """Selvaraju et al. 2017: channels weighted by their spatially averaged gradient."""

    name = "gradcam"
    aliases = ("grad-cam",)
    summary = "Grad-CAM: channels weighted by the mean gradient of the target score"

    def weighted(self, a, g, run):
        return spatial_mean(g) * a


@register
class GradCAMPlusPlus(CamMethod):
    """Chattopadhay et al. 2018, eq. 19 with the exponential score: alpha = g^2 / (2 g^2 + sum(A) g^3)."""

    name = "gradcam++"
    aliases = ("gradcampp", "gradcamplusplus", "grad-cam++",)
    summary = "Grad-CAM++: positive gradients weighted per location"

    def weighted(self, a, g, run):
        g2 = g.pow(2)
        denominator = 2 * g2 + spatial_sum(a) * g.pow(3)
        alpha = torch.where(g != 0, g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator)),
                            torch.zeros_like(g))
        weights = spatial_sum(alpha * torch.relu(g))
        return weights * a


@register
class XGradCAM(CamMethod):
    """Fu et al. 2020: gradients weighted by the normalised activation."""

    name = "xgradcam"
    aliases = ("x-gradcam",)
    summary = "XGrad-CAM: axiom-based gradient weighting"

    def weighted(self, a, g, run):
        weights = spatial_sum(g * a) / (spatial_sum(a) + 1e-7)
        return weights * a


@register
class HiResCAM(CamMethod):
    """Draelos & Carin 2020: element-wise gradient x activation, faithful to the model's computation."""

    name = "hirescam"
    summary = "HiResCAM: element-wise gradient x activation"

    def weighted(self, a, g, run):
        return g * a


@register
class LayerCAM(CamMethod):
    """Jiang et al. 2021: activations weighted by their positive gradient at each location."""

    name = "layercam"
    aliases = ("layer-cam",)
    summary = "LayerCAM: positive gradients per location, good on shallow layers"

    def weighted(self, a, g, run):
        return torch.relu(g) * a


@register
class EigenCAM(CamMethod):
    """Muhammad & Yeasin 2020: first principal component of the activations (class-agnostic, no gradient)."""

    name = "eigencam"
    aliases = ("eigen-cam",)
    summary = "Eigen-CAM: first principal component of the activations (class-agnostic)"
    needs_gradients = False
    principal_component = True

    def weighted(self, a, g, run):
        return a


@register
class EigenGradCAM(CamMethod):
    """First principal component of gradient x activation: class-discriminative Eigen-CAM."""

    name = "eigengradcam"
    summary = "Eigen-Grad-CAM: first principal component of gradient x activation"
    principal_component = True

    def weighted(self, a, g, run):
        return a * g


@register
class CAM(CamMethod):
    """Zhou et al. 2016: channels weighted by the final linear layer's row of the explained class.

    Exact for models that end in global average pooling + one linear layer. The linear layer is the
    option `fc_layer`, or else the last `nn.Linear` whose input size equals the layer's channels.
    """

    name = "cam"
    summary = "CAM: channels weighted by the classifier's weights (GAP + linear models)"
    needs_gradients = False
    options = {"fc_layer": None}

    @staticmethod
    def check_options(model, options) -> None:
        """fc_layer: None, a layer name or an nn.Linear of the model -- checked before any forward pass."""
        fc = options.get("fc_layer")
        if fc is None:
            return
        if isinstance(fc, nn.Module):
            if not any(m is fc for m in model.modules()):
                raise SaliencyError("fc_layer is an nn.Module that is not part of this model: pass the model's "
                                    "own classifier layer or its name.")
        elif not isinstance(fc, str):
            raise SaliencyError(f"fc_layer={fc!r} ({type(fc).__name__}): give the classifier's layer name "
                                "(a string) or the nn.Linear module itself.")
        layer = fc if isinstance(fc, nn.Module) else resolve_layer(model, fc)
        if not isinstance(layer, nn.Linear):
            raise SaliencyError(f"fc_layer '{fc if isinstance(fc, str) else type(fc).__name__}' is a "
                                f"{type(layer).__name__}, not nn.Linear.")

    def _classifier(self, run, channels: int) -> nn.Linear:
        name = run.options["fc_layer"]
        if name is not None:
            layer = name if isinstance(name, nn.Module) else resolve_layer(run.model, name)
            name = name if isinstance(name, str) else type(name).__name__
            if not isinstance(layer, nn.Linear):
                raise SaliencyError(f"fc_layer '{name}' is a {type(layer).__name__}, not nn.Linear.")
            if layer.in_features != channels:
                raise SaliencyError(
                    f"fc_layer '{name}' takes {layer.in_features} inputs but the target layer has {channels} "
                    f"channels; CAM weighs each channel by its classifier weight. Name the linear layer that "
                    f"follows the target layer's global pooling, or choose the layer that feeds it."
                )
            return layer
        linears = [m for m in run.model.modules() if isinstance(m, nn.Linear) and m.in_features == channels]
        if not linears:
            raise SaliencyError(
                f"CAM needs a final nn.Linear with {channels} inputs (one per channel of the target layer); "
                f"none was found. Name it with fc_layer=..., or use gradcam, which needs no such layer."
            )
        return linears[-1]

    def weighted(self, a, g, run):
        target = run.ensure_target()
        if target.classes is None:
            raise SaliencyError("CAM needs a class target (an index), not a callable or region target.")
        fc = self._classifier(run, a.shape[1])
        weights = fc.weight.detach()[torch.as_tensor(target.classes, device=a.device)]  # (N, C)
        return weights.reshape(*weights.shape, *([1] * (a.dim() - 2))).to(a.dtype) * a
