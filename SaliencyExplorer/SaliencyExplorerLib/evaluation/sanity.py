"""Model-randomisation sanity check (Adebayo et al., 2018): a map that explains the model must change
when the model's learned weights are destroyed.

Layers are re-initialised from the output backwards ("cascading"), or one at a time ("independent"),
on a deep copy (or, for a model that cannot be copied, in place with every weight restored bit for bit
afterwards: see `workspace`), so the caller's model ends exactly as it was. After each step the map is computed again
for the same target class and compared with the original by Spearman rank correlation. A method whose map
still correlates strongly with the original once the layers are randomised is flagged: it shows the
image, not what the model learned.

Where: correlations are computed inside the model's foreground (`foreground_mask`), the voxels that are
not background after the card's normalisation (or a caller's body mask), so the air around a body,
where every map is flat, cannot make two unrelated maps look alike (or alike ones unrelated).

Verdict (cascade, after Adebayo et al.): a map that decorrelates (rank correlation below `threshold`) at
some step of the cascade depends on the learned weights; one that stays similar through every step does
not, and is flagged. The whole curve is kept (`correlations`), with the step where it first fell
(`decorrelated_at`): reading only the last step misses a map that falls to 0 and climbs back once every
layer is random (a random network's map follows the input's edges, e.g. the body outline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.batching import check_cancel
from ..core.engine import explain
from ..core.model_call import model_probe
from ..core.options import DEFAULT_METHOD, positive_int
from ..errors import SaliencyError
from .inputs import batch_maps, to_numpy
from .ranks import spearman
from .workspace import Workspace, layers_with_parameters, parameter_root


def randomisable_layers(model: nn.Module, x: torch.Tensor, sliding_window=None) -> list[str]:
    """Names of layers with their own parameters, in forward order (the sanity check goes backwards); a model
    that runs on windows is probed on one window."""
    return layers_with_parameters(model, model_probe(x, sliding_window))


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


BACKGROUND_MIN_SHARE = 0.05  # a channel's minimum shared by at least this share of voxels is background


def foreground_mask(x: torch.Tensor, mask=None) -> np.ndarray:
    """(N, *spatial) bool: where the model sees anatomy.

    Default: a voxel is foreground when any channel differs from that channel's minimum in that sample,
    provided the minimum is shared by at least 5% of the voxels (air or padding clamped by the card's
    window, zero padding); a channel without such a plateau (e.g. z-scored noise) counts as foreground
    everywhere. `mask` (N or 1, *spatial, non-zero inside, e.g. a body mask) replaces the rule.
    """
    n, spatial = x.shape[0], tuple(x.shape[2:])
    if mask is not None:
        given = to_numpy(mask, "foreground mask") != 0
        if given.shape == spatial:
            given = np.broadcast_to(given, (n, *spatial))
        if given.shape != (n, *spatial):
            raise SaliencyError(
                f"The foreground mask has shape {given.shape} but the input needs {(n, *spatial)} "
                f"or {spatial}; resample the body mask onto the model's grid."
            )
        if not given.reshape(n, -1).any(axis=1).all():
            raise SaliencyError("The foreground mask is empty for a sample; give a mask with voxels inside the body.")
        return np.array(given)
    values = x.detach().float().cpu().numpy()
    out = np.zeros((n, *spatial), dtype=bool)
    for i in range(n):
        for channel in values[i]:
            lowest = channel.min()
            at_min = channel == lowest
            out[i] |= ~at_min if at_min.mean() >= BACKGROUND_MIN_SHARE else True
    out[~out.reshape(n, -1).any(axis=1)] = True  # a blank sample: use the whole grid
    return out


@dataclass
class SanityResult:
    """Per randomised layer (top first), the mean rank correlation with the original map, inside the
    foreground (`region`, `foreground_fraction`), and the whole-grid correlations for comparison."""

    method: str
    mode: str
    layers: list
    correlations: list
    threshold: float
    per_sample: list = field(default_factory=list)
    whole_grid: list = field(default_factory=list)
    region: str = "whole grid"
    foreground_fraction: float = 1.0

    @property
    def final_correlation(self) -> float:
        return self.correlations[-1] if self.correlations else float("nan")

    @property
    def minimum_correlation(self) -> float:
        values = [c for c in self.correlations if not np.isnan(c)]
        return min(values) if values else float("nan")

    @property
    def decorrelated_at(self) -> str | None:
        """The first randomised layer after which the map fell below the threshold (None: never)."""
        return next(
            (name for name, c in zip(self.layers, self.correlations) if not np.isnan(c) and c < self.threshold), None
        )

    @property
    def flagged(self) -> bool:
        """True when the map stays similar (>= threshold) at every step: it does not depend on the
        learned weights. A map that decorrelates at some step (cascade: the weights above that step;
        independent: that one layer) does. All-NaN (both maps flat at every step) is not flagged."""
        values = [c for c in self.correlations if not np.isnan(c)]
        return bool(values) and min(values) >= self.threshold

    @property
    def verdict(self) -> str:
        if self.flagged:
            return (
                "the map stays similar at every step of the randomisation: it does not depend on the "
                "learned weights (shows the image, not the model)"
            )
        if self.decorrelated_at is None:
            return "no verdict: every map was flat"
        return f"the map depends on the learned weights: it decorrelated once {self.decorrelated_at!r} was randomised"

    def to_dict(self) -> dict:
        def clean(values):
            return [None if np.isnan(c) else round(float(c), 6) for c in values]

        whole = clean(self.whole_grid) if self.whole_grid else [None] * len(self.layers)
        minimum = self.minimum_correlation
        return {
            "method": self.method,
            "mode": self.mode,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "verdict": self.verdict,
            "decorrelated_at": self.decorrelated_at,
            "minimum_correlation": None if np.isnan(minimum) else round(float(minimum), 6),
            "region": self.region,
            "foreground_fraction": round(float(self.foreground_fraction), 6),
            "layers": [
                {"layer": name, "rank_correlation": c, "whole_grid_rank_correlation": w}
                for name, c, w in zip(self.layers, clean(self.correlations), whole)
            ],
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


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    method: str = DEFAULT_METHOD,
    target=None,
    randomise=None,
    explain_fn=None,
    mode: str = "cascade",
    threshold: float = 0.5,
    max_layers: int | None = None,
    seed: int = 0,
    progress=None,
    cancel=None,
    explain_options: dict | None = None,
    foreground="auto",
    **options,
) -> SanityResult:
    """Re-initialise the `randomise` layers (default: every layer with parameters, output side first) and
    compare maps. `explain_options` (a dict, safe for names such as `seed` that this function also uses)
    and `options` go to the engine (`layers=` there is the CAM layer, not what is randomised).

    `explain_fn(model, x, target)` defaults to the engine's `explain(model, x, method, target, **options)`;
    it may return an Explanation or a (N, *spatial) map. `max_layers` keeps only the top layers.
    `foreground`: "auto" (`foreground_mask`: voxels not at the background value), a mask (N or 1,
    *spatial; e.g. a body mask on the model grid), or None (the whole grid, the pre-0.2 behaviour).
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
    windows = engine_options.get("sliding_window")
    order = list(reversed(randomisable_layers(model, x, windows))) if randomise is None else list(randomise)
    if max_layers is not None:
        order = order[: positive_int(max_layers, "max_layers")]
    if not order:
        raise SaliencyError("The model has no layer with parameters to randomise; nothing to check.")
    known = dict(parameter_root(model).named_modules())
    missing = [name for name in order if name not in known]
    if missing:
        raise SaliencyError(
            f"No layer named {missing[0]!r} with parameters in the model; the layers that "
            f"can be randomised are {list(reversed(randomisable_layers(model, x, windows)))}."
        )
    if isinstance(foreground, str):
        if foreground != "auto":
            raise SaliencyError(f"foreground must be 'auto', a mask or None, not {foreground!r}.")
        inside = foreground_mask(x)
    else:
        inside = np.ones((n, *spatial), dtype=bool) if foreground is None else foreground_mask(x, foreground)
    whole_everywhere = bool(inside.all())
    correlations, per_sample, whole_grid = [], [], []
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
            rhos = [spearman(original[i][inside[i]], heatmap[i][inside[i]]) for i in range(n)]
            whole = rhos if whole_everywhere else [spearman(original[i], heatmap[i]) for i in range(n)]
            per_sample.append(rhos)
            correlations.append(_mean(rhos))
            whole_grid.append(_mean(whole))
            if progress is not None:
                progress(step + 1, len(order))
            check_cancel(cancel)
    finally:
        space.close()
    region = (
        "whole grid"
        if whole_everywhere
        else ("foreground" if foreground is not None and isinstance(foreground, str) else "mask")
    )
    return SanityResult(
        method, mode, order, correlations, float(threshold), per_sample, whole_grid, region, float(inside.mean())
    )


def _mean(values) -> float:
    return float(np.nanmean(values)) if not all(np.isnan(values)) else float("nan")
