"""Integrated gradients (Sundararajan et al. 2017): gradients along the path from a baseline to the input.

Completeness (attributions sum to score(x) - score(baseline)) is what makes the map quantitative; the
Gauss-Legendre rule reaches it with far fewer steps than a Riemann sum, so it is the default.
"""

from __future__ import annotations

import numpy as np
import torch

from ...core.maps import gaussian_blur
from ...core.method import register
from ...core.options import non_negative_float, positive_int
from ...errors import SaliencyError
from .base import GradientMethod, broadcast, gradient_passes

RULES = ("gauss-legendre", "riemann-left", "riemann-right", "riemann-middle", "riemann-trapezoid")


def path_rule(rule: str, steps: int):
    """Points alpha in [0, 1] and weights whose weighted sum approximates the integral over [0, 1]."""
    if rule == "gauss-legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    k = np.arange(steps, dtype=np.float64)
    if rule == "riemann-trapezoid":
        if steps < 2:
            raise SaliencyError("The trapezoid rule needs steps >= 2.")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return k / (steps - 1), weights
    offset = {"riemann-left": 0.0, "riemann-right": 1.0, "riemann-middle": 0.5}[rule]
    return (k + offset) / steps, np.full(steps, 1.0 / steps)


def make_baseline(spec, x: torch.Tensor, blur_sigma: float) -> torch.Tensor:
    """The baseline as a tensor shaped like x: 'zero', 'blur', 'mean', a number, or an array."""
    if isinstance(spec, str):
        if spec == "zero":
            return torch.zeros_like(x)
        if spec == "blur":
            return gaussian_blur(x, blur_sigma)
        if spec == "mean":
            return x.flatten(2).mean(2).reshape(*x.shape[:2], *([1] * (x.dim() - 2))).expand_as(x).clone()
        raise SaliencyError(f"baseline={spec!r} is unknown; use 'zero', 'blur', 'mean', a number or an array.")
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return torch.full_like(x, float(spec))
    value = torch.as_tensor(np.asarray(spec) if not isinstance(spec, torch.Tensor) else spec)
    value = value.to(device=x.device, dtype=x.dtype)
    shape = tuple(value.shape)
    if shape not in (tuple(x.shape), tuple(x.shape[1:]), (1, *x.shape[1:])):
        raise SaliencyError(
            f"The baseline has shape {shape}; it must match the input {tuple(x.shape)} or one sample "
            f"{tuple(x.shape[1:])}. Resample the baseline to the model grid, or use baseline='zero'."
        )
    if not bool(torch.isfinite(value).all()):
        raise SaliencyError("The baseline contains NaN or infinite values.")
    return value.expand_as(x).clone()


@register
class IntegratedGradients(GradientMethod):
    r"""Integrated gradients (Sundararajan et al., ICML 2017): the path integral of gradients from a baseline.

    .. math:: \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial y^{(c)}(x' + \alpha (x - x'))}{\partial x_i} d\alpha

    approximated with ``steps`` points of ``rule`` (Gauss-Legendre by default); the baseline :math:`x'` is
    zeros, a blurred copy (``blur_sigma`` voxels), the mean or an array. Completeness: the attributions sum
    to :math:`y(x) - y(x')`.
    """

    name = "integrated-gradients"
    summary = "Integrated gradients: path integral of gradients from a baseline (completeness)"
    options = {"baseline": "zero", "steps": 50, "rule": "gauss-legendre", "blur_sigma": 5.0, "reduce": "sum"}

    def attributions(self, run):
        opts = run.options
        steps = positive_int(opts["steps"], "steps")
        if opts["rule"] not in RULES:
            raise SaliencyError(f"rule={opts['rule']!r} is unknown; use one of {', '.join(RULES)}.")
        blur_sigma = non_negative_float("blur_sigma (voxels)", opts["blur_sigma"])
        alphas, weights = path_rule(opts["rule"], steps)
        x = run.x
        baseline = make_baseline(opts["baseline"], x, blur_sigma)
        alphas = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)
        weights = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
        delta = x - baseline
        summed = torch.zeros_like(x)

        def fill(batch, rows, ks):
            torch.addcmul(baseline[rows], broadcast(alphas[ks], batch), delta[rows], out=batch)

        def accumulate(grad, rows, ks):
            summed.index_add_(0, rows, grad * broadcast(weights[ks], grad))

        gradient_passes(run, steps, fill, accumulate)
        attributions = delta * summed
        rows = torch.arange(x.shape[0], device=x.device)
        with torch.no_grad():
            gap = run.score(run.clean_output, rows) - run.score(run.forward(baseline), rows)
        error = attributions.flatten(1).sum(1) - gap
        return attributions, {"convergence_delta": error, "baseline": baseline}
