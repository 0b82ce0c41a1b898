"""Gradient-weighted and weight-based class activation maps (one small class each)."""

from __future__ import annotations

import torch
from torch import nn

from ...core.layers import resolve_layer
from ...core.method import register
from ...errors import SaliencyError
from .base import CamMethod, spatial_mean, spatial_sum


@register
class GradCAM(CamMethod):
    r"""Grad-CAM (Selvaraju et al., ICCV 2017): channels weighted by their spatially averaged gradient.

    .. math:: L^{(c)} = \mathrm{ReLU}\Big(\sum_k w_k^{(c)} A_k\Big), \quad
              w_k^{(c)} = \frac{1}{Z} \sum_{x} \frac{\partial y^{(c)}}{\partial A_k(x)}

    with :math:`A_k` the k-th channel of the layer's output, :math:`y^{(c)}` the target score and
    :math:`Z` the number of locations. Costs about one forward pass (gradients stop at the layer).
    """

    name = "gradcam"
    aliases = ("grad-cam",)
    summary = "Grad-CAM: channels weighted by the mean gradient of the target score"

    def weighted(self, a, g, run):
        return spatial_mean(g) * a


@register
class GradCAMPlusPlus(CamMethod):
    r"""Grad-CAM++ (Chattopadhay et al., WACV 2018), eq. 19 with the exponential score.

    .. math:: w_k^{(c)} = \sum_x \alpha_k^{(c)}(x)\, \mathrm{ReLU}\Big(\frac{\partial y^{(c)}}{\partial A_k(x)}\Big),
              \quad \alpha_k^{(c)}(x) = \frac{g_k(x)^2}{2 g_k(x)^2 + \sum_{x'} A_k(x')\, g_k(x)^3}

    with :math:`g_k = \partial y^{(c)} / \partial A_k`; the map is :math:`\mathrm{ReLU}(\sum_k w_k A_k)`.
    After max pooling its weights become about 1/sum(A): see docs/methods.md.
    """

    name = "gradcam++"
    aliases = (
        "gradcampp",
        "gradcamplusplus",
        "grad-cam++",
    )
    summary = "Grad-CAM++: positive gradients weighted per location"

    def weighted(self, a, g, run):
        g2 = g.pow(2)
        denominator = 2 * g2 + spatial_sum(a) * g.pow(3)
        alpha = torch.where(
            g != 0, g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator)), torch.zeros_like(g)
        )
        weights = spatial_sum(alpha * torch.relu(g))
        return weights * a


@register
class XGradCAM(CamMethod):
    r"""XGrad-CAM (Fu et al., BMVC 2020): gradients weighted by the normalised activation.

    .. math:: w_k^{(c)} = \sum_x \frac{A_k(x)}{\sum_{x'} A_k(x')} \frac{\partial y^{(c)}}{\partial A_k(x)},
              \quad L^{(c)} = \mathrm{ReLU}\Big(\sum_k w_k^{(c)} A_k\Big)
    """

    name = "xgradcam"
    aliases = ("x-gradcam",)
    summary = "XGrad-CAM: axiom-based gradient weighting"

    def weighted(self, a, g, run):
        weights = spatial_sum(g * a) / (spatial_sum(a) + 1e-7)
        return weights * a


@register
class HiResCAM(CamMethod):
    r"""HiResCAM (Draelos & Carin, 2020): element-wise gradient x activation.

    .. math:: L^{(c)}(x) = \mathrm{ReLU}\Big(\sum_k \frac{\partial y^{(c)}}{\partial A_k(x)} A_k(x)\Big)

    Faithful to the model's computation when the head is a global average pool and a linear layer.
    """

    name = "hirescam"
    summary = "HiResCAM: element-wise gradient x activation"

    def weighted(self, a, g, run):
        return g * a


@register
class LayerCAM(CamMethod):
    r"""LayerCAM (Jiang et al., IEEE TIP 2021): activations weighted by their positive gradient at each location.

    .. math:: L^{(c)}(x) = \mathrm{ReLU}\Big(\sum_k \mathrm{ReLU}\Big(\frac{\partial y^{(c)}}{\partial A_k(x)}\Big) A_k(x)\Big)

    Keeps fine detail on shallow layers, where Grad-CAM's averaged weights blur.
    """

    name = "layercam"
    aliases = ("layer-cam",)
    summary = "LayerCAM: positive gradients per location, good on shallow layers"

    def weighted(self, a, g, run):
        return torch.relu(g) * a


@register
class EigenCAM(CamMethod):
    r"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): first principal component of the activations.

    .. math:: L(x) = \big(A(x) - \bar A\big) \cdot v_1, \quad v_1 = \text{first right singular vector of }
              \big[A_k(x) - \bar A_k\big]_{x,k}

    Class-agnostic and gradient-free; the sign is chosen so the map correlates with :math:`\sum_k A_k`.
    """

    name = "eigencam"
    aliases = ("eigen-cam",)
    summary = "Eigen-CAM: first principal component of the activations (class-agnostic)"
    needs_gradients = False
    principal_component = True

    def weighted(self, a, g, run):
        return a


@register
class EigenGradCAM(CamMethod):
    r"""Eigen-Grad-CAM: the first principal component of gradient x activation (class-discriminative Eigen-CAM).

    .. math:: L^{(c)}(x) = \big(G(x) - \bar G\big) \cdot v_1, \quad G_k(x) = \frac{\partial y^{(c)}}{\partial A_k(x)} A_k(x)
    """

    name = "eigengradcam"
    summary = "Eigen-Grad-CAM: first principal component of gradient x activation"
    principal_component = True

    def weighted(self, a, g, run):
        return a * g


def _linear_fix(model) -> str:
    """The fix for a wrong fc_layer: the model's nn.Linear layers by name."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        return "This model has no nn.Linear layer: CAM needs one; use gradcam instead."
    shown = ", ".join(repr(n) for n in names[:8]) + (" ..." if len(names) > 8 else "")
    return f"Give fc_layer one of the model's Linear layers: {shown}."


@register
class CAM(CamMethod):
    r"""CAM (Zhou et al., CVPR 2016): channels weighted by the final linear layer's row of the explained class.

    .. math:: L^{(c)}(x) = \mathrm{ReLU}\Big(\sum_k W_{c,k} A_k(x)\Big)

    Exact for a global-average-pool + linear head (``fc_layer`` names the linear layer); no gradient.
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
                raise SaliencyError(
                    "fc_layer is an nn.Module that is not part of this model: pass the model's "
                    "own classifier layer or its name."
                )
        elif not isinstance(fc, str):
            raise SaliencyError(
                f"fc_layer={fc!r} ({type(fc).__name__}): give the classifier's layer name "
                "(a string) or the nn.Linear module itself."
            )
        layer = fc if isinstance(fc, nn.Module) else resolve_layer(model, fc)
        if not isinstance(layer, nn.Linear):
            raise SaliencyError(
                f"fc_layer '{fc if isinstance(fc, str) else type(fc).__name__}' is a "
                f"{type(layer).__name__}, not nn.Linear. {_linear_fix(model)}"
            )

    def _classifier(self, run, channels: int) -> nn.Linear:
        name = run.options["fc_layer"]
        if name is not None:
            layer = name if isinstance(name, nn.Module) else resolve_layer(run.model, name)
            name = name if isinstance(name, str) else type(name).__name__
            if not isinstance(layer, nn.Linear):
                raise SaliencyError(
                    f"fc_layer '{name}' is a {type(layer).__name__}, not nn.Linear. {_linear_fix(run.model)}"
                )
            if layer.in_features != channels:
                raise SaliencyError(
                    f"fc_layer '{name}' takes {layer.in_features} inputs but the target layer has {channels} "
                    f"channels; CAM weighs each channel by its classifier weight. Name the linear layer that "
                    f"follows the target layer's global pooling, or choose the layer that feeds it."
                )
            return layer
        linears = {m: n for n, m in run.model.named_modules() if isinstance(m, nn.Linear) and m.in_features == channels}
        if not linears:
            raise SaliencyError(
                f"CAM needs a final nn.Linear with {channels} inputs (one per channel of the target layer); "
                f"none was found. Name it with fc_layer=..., or use gradcam, which needs no such layer."
            )
        cache = run.__dict__.setdefault("_cam_classifiers", {})
        if self.layer not in cache:
            cache[self.layer] = self._traced_classifier(run, linears, channels)
        return cache[self.layer]

    def _traced_classifier(self, run, linears: dict, channels: int) -> nn.Linear:
        """The nn.Linear that takes the target layer's output pooled to one value per channel, traced on one
        forward pass (its (N, C) input depends on that output in the autograd graph); a Linear of the right
        size that never receives it (a transformer MLP, an unused head) is never taken."""
        from ...core.model_call import call_model  # noqa: PLC0415  (one module per job; cheap)

        layer = dict(run.layers).get(self.layer) if self.layer else None
        if layer is None:
            layer = run.layers[0][1] if run.layers else None
        plan = getattr(run, "plan", None)  # windows: the model sees one window
        x = run.x[:1] if plan is None else plan.gather(plan.pad_input(run.x[:1]), [(0, 0)])
        seen, outputs = {}, []

        def on_layer(module, inputs, output):
            outputs.append(output[0] if isinstance(output, (tuple, list)) else output)

        def on_linear(module, inputs):
            if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 2 and inputs[0].requires_grad:
                seen.setdefault(module, inputs[0])

        handles = [layer.register_forward_hook(on_layer)] + [m.register_forward_pre_hook(on_linear) for m in linears]
        try:
            with torch.enable_grad():
                call_model(run.model, x.detach().clone().requires_grad_(True))
                out = [o for o in outputs if isinstance(o, torch.Tensor) and o.requires_grad]
                consumers = [
                    m
                    for m, given in seen.items()
                    if out
                    and any(
                        g is not None
                        for g in torch.autograd.grad(given.sum(), out, retain_graph=True, allow_unused=True)
                    )
                ]
        finally:
            for handle in handles:
                handle.remove()
        run.passes["forward"] += int(x.shape[0])
        if len(consumers) == 1:
            return consumers[0]
        names = ", ".join(f"'{linears[m]}'" for m in (consumers or linears))
        if consumers:
            raise SaliencyError(
                f"CAM: several nn.Linear layers take layer '{self.layer}' pooled ({names}); name the "
                "classifier with fc_layer=..., or use gradcam."
            )
        raise SaliencyError(
            f"CAM: no nn.Linear takes layer '{self.layer}' pooled to its {channels} channels (the "
            f"Linear layers of that size, {names}, never receive it), so CAM has no weights for it. "
            "Name the classifier with fc_layer=..., choose the layer before the global pooling, "
            "or use gradcam."
        )

    def weighted(self, a, g, run):
        target = run.ensure_target()
        if target.classes is None:
            raise SaliencyError("CAM needs a class target (an index), not a callable or region target.")
        fc = self._classifier(run, a.shape[1])
        weights = fc.weight.detach()[torch.as_tensor(target.classes, device=a.device)]  # (N, C)
        return weights.reshape(*weights.shape, *([1] * (a.dim() - 2))).to(a.dtype) * a
