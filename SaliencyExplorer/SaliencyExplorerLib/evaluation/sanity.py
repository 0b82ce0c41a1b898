"""Model-randomisation sanity check (Adebayo et al., 2018): a map that explains the model must change
when the model's learned weights are destroyed.

Layers are re-initialised from the output backwards ("cascading"), or one at a time ("independent"),
on a deep copy (or, for a model that cannot be copied, in place with every weight restored bit for bit
afterwards: see `workspace`), so the caller's model ends exactly as it was. After each step the map is computed again
for the same target class and compared with the original by Spearman rank correlation. A method whose map
still correlates strongly with the original once the layers are randomised is flagged: it shows the
image, not what the model learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.options import DEFAULT_METHOD
from ..core.batching import check_cancel
from ..errors import SaliencyError
from ..core.options import positive_int
from .inputs import batch_maps
from .ranks import spearman
from .workspace import Workspace, layers_with_parameters, parameter_root
from ..core.engine import explain


def randomisable_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of layers with their own parameters, in forward order (the sanity check goes backwards)."""
    return layers_with_parameters(model, x)


def reinitialise(module: nn.Module, seed: int) -> None:
    """Fresh weights for one layer: its own `reset_parameters()`, else noise of the parameter's scale."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
                return
            for param in module.parameters(recurse=False):
                scale = float(param.std()) if param.numel() > 1 and float(param.std()) > 0 else 1.0
                param.normal_(0.0, scale)


@dataclass
class SanityResult:
    """Per randomised layer (top first), the mean rank correlation with the original map."""

    method: str
    mode: str
    layers: list
    correlations: list
    threshold: float
    per_sample: list = field(default_factory=list)

    @property
    def final_correlation(self) -> float:
        return self.correlations[-1] if self.correlations else float("nan")

    @property
    def flagged(self) -> bool:
        """True when the map survives randomisation: it does not depend on the learned weights."""
        if self.mode == "independent":
            values = [c for c in self.correlations if not np.isnan(c)]
            return bool(values) and min(values) >= self.threshold
        return not np.isnan(self.final_correlation) and self.final_correlation >= self.threshold

    def to_dict(self) -> dict:
        clean = [None if np.isnan(c) else round(float(c), 6) for c in self.correlations]
        return {
            "method": self.method, "mode": self.mode, "threshold": self.threshold, "flagged": self.flagged,
            "layers": [{"layer": name, "rank_correlation": c} for name, c in zip(self.layers, clean)],
        }


def _engine_explain(method, options):
    def run(model, x, target):

        return explain(model, x, method=method, target=target, **options)
    return run


def _heatmap_and_target(outcome, target):
    """explain_fn may return an Explanation (heatmap + target classes) or a bare map."""
    if hasattr(outcome, "heatmap"):
        fixed = list(outcome.target) if getattr(outcome, "target", None) is not None else target
        return outcome.heatmap, fixed
    return outcome, target


def sanity_check(model: nn.Module, x: torch.Tensor, method: str = DEFAULT_METHOD, target=None, randomise=None,
                 explain_fn=None, mode: str = "cascade", threshold: float = 0.5, max_layers: int | None = None,
                 seed: int = 0, progress=None, cancel=None, explain_options: dict | None = None,
                 **options) -> SanityResult:
    """Re-initialise the `randomise` layers (default: every layer with parameters, output side first) and
    compare maps. `explain_options` (a dict, safe for names such as `seed` that this function also uses)
    and `options` go to the engine (`layers=` there is the CAM layer, not what is randomised).

    `explain_fn(model, x, target)` defaults to the engine's `explain(model, x, method, target, **options)`;
    it may return an Explanation or a (N, *spatial) map. `max_layers` keeps only the top layers.
    """
    if mode not in ("cascade", "independent"):
        raise SaliencyError(f"mode must be 'cascade' or 'independent', not {mode!r}.")
    if not isinstance(model, nn.Module):
        raise SaliencyError(f"The sanity check randomises a torch nn.Module; got {type(model).__name__}.")
    engine_options = {**(explain_options or {}), **options}
    if cancel is not None:
        engine_options["cancel"] = cancel
    explain_fn = explain_fn or _engine_explain(method, engine_options)
    n, spatial = x.shape[0], tuple(x.shape[2:])
    order = list(reversed(randomisable_layers(model, x))) if randomise is None else list(randomise)
    if max_layers is not None:
        order = order[:positive_int(max_layers, "max_layers")]
    if not order:
        raise SaliencyError("The model has no layer with parameters to randomise; nothing to check.")
    known = dict(parameter_root(model).named_modules())
    missing = [name for name in order if name not in known]
    if missing:
        raise SaliencyError(f"No layer named {missing[0]!r} with parameters in the model; the layers that "
                            f"can be randomised are {list(reversed(randomisable_layers(model, x)))}.")
    correlations, per_sample = [], []
    space = Workspace(model)
    try:
        original, fixed_target = _heatmap_and_target(explain_fn(space.fresh(), x, target), target)
        original = batch_maps(original, spatial, n, "original map")
        work = space.fresh()
        for step, name in enumerate(order):
            if mode == "independent":
                work = space.fresh()
            reinitialise(space.layer(work, name), seed + step)
            heatmap, _ = _heatmap_and_target(explain_fn(work, x, fixed_target), fixed_target)
            heatmap = batch_maps(heatmap, spatial, n, f"map after randomising {name!r}")
            rhos = [spearman(original[i], heatmap[i]) for i in range(n)]
            per_sample.append(rhos)
            correlations.append(float(np.nanmean(rhos)) if not all(np.isnan(rhos)) else float("nan"))
            if progress is not None:
                progress(step + 1, len(order))
            check_cancel(cancel)
    finally:
        space.close()
    return SanityResult(method, mode, order, correlations, float(threshold), per_sample)
