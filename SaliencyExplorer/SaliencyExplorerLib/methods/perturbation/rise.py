"""RISE (Petsiuk et al. 2018): the score under many random smooth masks, averaged per voxel.

Model-agnostic like occlusion, but each evaluation probes many regions at once; masks are built batch by
batch in a reused buffer (never all at once), from a random seed so maps are reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...core.batching import batch_ranges, bounded_batch_size
from ...core.method import Method, MethodOutput, register
from ...core.options import positive_int
from ...core.targets import activate
from ...errors import SaliencyError
from .layout import LayoutChooser, check_layout
from .scoring import MAX_PER_CLASS
from .windows import per_axis

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def random_masks(count: int, shape, cells: list[int], keep: float, generator, device) -> torch.Tensor:
    """(count, 1, *shape) smooth masks: a random coarse binary grid, upsampled, randomly shifted.

    The coarse grids and shifts are drawn on the CPU (``generator`` is a CPU generator): the same seed gives
    the same masks on every device, and the shifts index without a device round trip per mask.
    """
    cell = [math.ceil(s / c) for s, c in zip(shape, cells)]
    grid = (torch.rand((count, 1, *cells), generator=generator) < keep).float().to(device)
    big = [(c + 1) * k for c, k in zip(cells, cell)]
    up = F.interpolate(grid, size=big, mode=_MODES[len(shape)], align_corners=False)
    shifts = torch.randint(0, max(cell), (count, len(shape)), generator=generator)
    out = torch.empty((count, 1, *shape), device=device)
    for j in range(count):
        region = tuple(
            slice(int(shifts[j, a]) % k, int(shifts[j, a]) % k + s) for a, (k, s) in enumerate(zip(cell, shape))
        )
        out[j] = up[(j, slice(None), *region)]
    return out


@register
class RISE(Method):
    r"""RISE (Petsiuk et al., BMVC 2018): the score-weighted average of random smooth masks.

    .. math:: M(x) = \frac{1}{\mathbb{E}[m]\, N} \sum_{i=1}^{N} y^{(c)}(X \circ m_i)\, m_i(x)

    with :math:`m_i` upsampled random binary grids of ``cells`` per axis, kept with probability ``keep``
    and randomly shifted. Model-agnostic; ``masks`` forwards, batched.
    """

    name = "rise"
    kind = "perturbation"
    summary = "RISE: score-weighted average of random smooth masks (model-agnostic)"
    options = {"masks": 500, "cells": 7, "keep": 0.5, "seed": 0, "layout": "auto"}

    def compute(self, run):
        opts = run.options
        count = positive_int(opts["masks"], "masks")
        shape = run.spatial_shape
        cells = [positive_int(c, "cells") for c in per_axis("cells", opts["cells"], len(shape))]
        if any(c > s for c, s in zip(cells, shape)):
            raise SaliencyError(f"cells={opts['cells']!r}: at most one cell per voxel ({tuple(shape)}).")
        keep = opts["keep"]
        if not isinstance(keep, (int, float)) or isinstance(keep, bool) or not 0 < keep < 1:
            raise SaliencyError(f"keep={keep!r} must be in (0, 1): the fraction of cells left visible.")
        check_layout(opts["layout"])
        run.ensure_target()
        x, n = run.x, run.x.shape[0]
        total = n * count
        size = bounded_batch_size(run.batch_size, run.per_sample_bytes() + x[0, :1].numel() * 8, run.device, total)
        buffer = torch.empty((size, *x.shape[1:]), dtype=x.dtype, device=x.device)
        generator = torch.Generator().manual_seed(int(opts["seed"]))  # CPU: one map per seed, on any device
        saliency = torch.zeros((n, *shape), device=x.device)
        output = run.clean_output
        activation = getattr(run.target, "activation", None)
        per_class = None
        if output.dim() == 2 and activation is not None and output.shape[1] <= MAX_PER_CLASS:
            per_class = torch.zeros((n, output.shape[1], *shape), device=x.device)
        layout = LayoutChooser(run, opts["layout"], -(-total // size))
        for start, stop in batch_ranges(total, size, run.progress(total)):
            index = torch.arange(start, stop, device=x.device)
            rows = index // count
            masks = random_masks(stop - start, shape, cells, keep, generator, x.device)
            batch = torch.mul(x[rows], masks.to(x.dtype), out=buffer[: stop - start])
            with torch.no_grad():
                with layout.use(batch) as ready:
                    out = run.forward(ready)
                scores = run.score(out, rows, probability=True).float()
                saliency.index_add_(0, rows, scores.reshape(-1, *([1] * len(shape))) * masks[:, 0])
                if per_class is not None:
                    probs = activate(out, activation).float()
                    per_class.index_add_(0, rows, probs.reshape(*probs.shape, *([1] * len(shape))) * masks)
        scale = 1.0 / (count * keep)
        extras = {"evaluations": total}
        if per_class is not None:
            extras["per_class"] = per_class * scale
        return MethodOutput(saliency * scale, extras)
