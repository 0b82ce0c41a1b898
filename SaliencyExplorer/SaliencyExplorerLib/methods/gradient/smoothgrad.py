"""SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies of the input."""

from __future__ import annotations

import torch

from ...core.method import register
from ...core.options import non_negative_float, positive_int
from ...errors import SaliencyError
from .base import GradientMethod, broadcast, gradient_passes


@register
class SmoothGrad(GradientMethod):
    r"""SmoothGrad (Smilkov et al., 2017): gradients averaged over noisy copies of the input.

    .. math:: \hat M(x) = \frac{1}{n} \sum_{i=1}^{n} \Big(\frac{\partial y^{(c)}}{\partial x}\Big|_{x + \epsilon_i}\Big)^{p},
              \quad \epsilon_i \sim \mathcal{N}(0, \sigma^2), \quad \sigma = \text{noise} \cdot (\max x - \min x)

    Noise is a fraction of each sample's value range (so one setting fits CT and MRI alike).
    magnitude=True (p = 2) averages squared gradients (MONAI's and captum's "smoothgrad_sq"), False (p = 1)
    the signed gradients; a fixed seed makes maps reproducible.
    """

    name = "smoothgrad"
    summary = "SmoothGrad: gradients averaged over noisy copies of the input"
    options = {"samples": 25, "noise": 0.15, "magnitude": True, "reduce": "sum", "seed": 0}

    def attributions(self, run):
        opts = run.options
        samples = positive_int(opts["samples"], "samples")
        noise = non_negative_float("noise (a fraction of the input's value range)", opts["noise"])
        if not isinstance(opts["magnitude"], bool):
            raise SaliencyError(f"magnitude must be True or False; got {opts['magnitude']!r}.")
        x = run.x
        flat = x.flatten(1)
        sigma = noise * (flat.amax(1) - flat.amin(1))  # (N,)
        generator = torch.Generator(device=x.device).manual_seed(int(opts["seed"]))
        total = torch.zeros_like(x)

        def fill(batch, rows, ks):
            batch.normal_(generator=generator)
            batch.mul_(broadcast(sigma[rows], batch)).add_(x[rows])

        def accumulate(grad, rows, ks):
            total.index_add_(0, rows, grad * grad if opts["magnitude"] else grad)

        gradient_passes(run, samples, fill, accumulate)
        return total / samples
