"""Deletion and insertion: does removing the voxels a map calls important change the model's score?

Deletion removes voxels in order of importance (a faithful map makes the score fall fast: low area);
insertion reveals them on a blank or blurred image (a faithful map makes it rise fast: high area). The
same curves for random orderings give the baseline, so an area can be read as better or worse than chance.
Perturbed copies go through the model in batches of `batch_size`; curves use the target's probability
(softmax/sigmoid of the class, or a callable's score), on the grid the model sees.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.batching import check_cancel
from ..core.model_call import model_output
from ..core.model_guard import guarded
from ..core.options import positive_int
from ..core.targets import resolve_target
from ..errors import SaliencyError
from .inputs import batch_maps
from .replacement import replacement_image


def area(fractions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Trapezoidal area under score(fraction) along the last axis (fractions run 0..1)."""
    widths = np.diff(fractions)
    return ((scores[..., 1:] + scores[..., :-1]) * 0.5 * widths).sum(axis=-1)


def step_counts(n_voxels: int, steps: int) -> np.ndarray:
    """Voxels removed after each of `steps` equal steps (0 .. n); never more steps than voxels (said)."""
    steps = positive_int(steps, "steps")
    if steps > n_voxels:
        warnings.warn(
            f"steps {steps} is more than the {n_voxels} voxels of the model's grid; one step per voxel "
            f"({n_voxels}) was used",
            UserWarning,
            stacklevel=2,
        )
        steps = n_voxels
    return np.round(np.arange(steps + 1) * n_voxels / steps).astype(np.int64)


def importance_ranks(saliency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of every voxel, 0 = most important; ties (e.g. a CAM's zero background) in random order."""
    flat = saliency.ravel()
    shuffle = rng.permutation(flat.size)
    order = shuffle[np.argsort(-flat[shuffle], kind="stable")]
    ranks = np.empty(flat.size, dtype=np.int64)
    ranks[order] = np.arange(flat.size)
    return ranks


class _Scorer:
    """Model + target fixed on the original input; scores batches of perturbed copies of one sample."""

    def __init__(self, model, x, target, output_key, output_activation, task, mask, sliding_window=None):
        self.model, self.output_key, self.sliding_window = model, output_key, sliding_window
        with torch.no_grad():
            output = model_output(model, x, output_key, sliding_window)
        self.target = resolve_target(target, output, x.dim() - 2, task=task, mask=mask, activation=output_activation)

    def __call__(self, batch: torch.Tensor, sample: int) -> np.ndarray:
        with torch.no_grad():
            output = model_output(self.model, batch, self.output_key, self.sliding_window)
            rows = torch.full((batch.shape[0],), sample, dtype=torch.long, device=output.device)
            return self.target.score(output, rows, probability=True).detach().float().cpu().numpy()


def _curve(scorer, x_i, blank_i, ranks, counts, insertion, batch_size, sample, tick=None) -> np.ndarray:
    """Scores after each count of voxels removed (deletion) or revealed (insertion)."""
    c = x_i.shape[0]
    flat_x, flat_blank = x_i.reshape(c, -1), blank_i.reshape(c, -1)
    ranks_t = torch.as_tensor(ranks, device=x_i.device)
    scores = []
    for start in range(0, len(counts), batch_size):
        chunk = torch.as_tensor(counts[start : start + batch_size], device=x_i.device)
        chosen = (ranks_t[None, :] < chunk[:, None])[:, None, :]  # (B, 1, n): voxels taken so far
        keep, fill = (flat_blank, flat_x) if insertion else (flat_x, flat_blank)
        batch = torch.where(chosen, fill[None], keep[None]).reshape(len(chunk), *x_i.shape)
        scores.append(scorer(batch, sample))
        if tick is not None:
            tick()
    return np.concatenate(scores)


@dataclass
class FaithfulnessResult:
    """Curves (samples x steps+1) and their areas; `random_*` is the mean over random orderings."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    random_deletion: np.ndarray
    random_insertion: np.ndarray
    settings: dict = field(default_factory=dict)

    def auc(self, name: str) -> float:
        """Mean area over samples of one curve: 'deletion', 'insertion', 'random_deletion', ..."""
        return float(area(self.fractions, getattr(self, name)).mean())

    def to_dict(self) -> dict:
        names = ["deletion", "insertion", "random_deletion", "random_insertion"]
        out = {f"{name}_auc": self.auc(name) for name in names}
        out["curves"] = {
            "fraction": self.fractions.tolist(),
            **{name: getattr(self, name).mean(axis=0).tolist() for name in names},
        }
        out["settings"] = dict(self.settings)
        return out


def _check_input(model, x):
    if not isinstance(x, torch.Tensor) or not 3 <= x.dim() <= 5:
        raise SaliencyError(
            f"The input must be a torch tensor (N, C, *spatial) with 1-3 spatial axes; got "
            f"{getattr(x, 'shape', type(x).__name__)}. Add the batch and channel axes (x[None, None])."
        )
    if not callable(model):
        raise SaliencyError(f"model must be a torch module (callable); got {type(model).__name__}.")


def faithfulness(
    model,
    x,
    saliency,
    target=None,
    steps: int = 50,
    batch_size: int = 16,
    replacement=0.0,
    blur_sigma: float | None = None,
    random_repeats: int = 3,
    seed: int = 0,
    output_key=None,
    output_activation: str = "auto",
    task=None,
    mask=None,
    curves=("deletion", "insertion"),
    progress=None,
    cancel=None,
    baseline: "FaithfulnessResult | None" = None,
    only_random: bool = False,
    sliding_window=None,
) -> FaithfulnessResult:
    """Deletion/insertion curves of `saliency` (N, *spatial) for `model` at input `x`, plus random baselines.

    `replacement`: a number, 'mean' or 'blur' (`blur_sigma` in voxels). `target` as for explain().
    `progress(done, total)` is called after every batch of perturbed copies; `cancel` (an Event or a
    callable) stops the run between batches with `ExplanationCancelled`.
    `baseline`: an earlier result on the same model, input, target and settings whose random curves are
    reused (random orderings do not depend on the map), so comparing several maps pays for them once.
    `only_random`: compute the random curves alone (the map's curves stay NaN): that shared baseline.
    `sliding_window` (as for explain()): the model runs on windows and the blended output is scored, as the
    explanation saw it.
    """
    _check_input(model, x)
    n, spatial = x.shape[0], tuple(x.shape[2:])
    maps = batch_maps(saliency, spatial, n)
    batch_size = positive_int(batch_size, "batch_size")
    random_repeats = positive_int(random_repeats, "random_repeats", minimum=0)
    counts = step_counts(int(np.prod(spatial)), steps)
    fractions = counts / counts[-1]
    if baseline is not None:
        if baseline.fractions.shape != fractions.shape or baseline.random_deletion.shape[0] != n:
            raise SaliencyError(
                "The baseline was computed with other steps or another input; compute it with "
                "the same input and steps, or pass baseline=None."
            )
        random_repeats = 0
    blank = replacement_image(x, replacement, blur_sigma)
    rng = np.random.default_rng(seed)
    empty = np.full((n, len(counts)), np.nan)
    result = {k: empty.copy() for k in ("deletion", "insertion", "random_deletion", "random_insertion")}
    total = n * len(curves) * ((not only_random) + random_repeats) * -(-len(counts) // batch_size)
    done = [0]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        check_cancel(cancel)

    with guarded(model):
        scorer = _Scorer(model, x, target, output_key, output_activation, task, mask, sliding_window)
        for i in range(n):
            ranks = importance_ranks(maps[i], rng)
            randoms = [rng.permutation(ranks.size) for _ in range(random_repeats)]
            for name in curves:
                if name not in ("deletion", "insertion"):
                    raise SaliencyError(f"Unknown curve {name!r}; choose 'deletion' and/or 'insertion'.")
                args = (scorer, x[i], blank[i])
                tail = (counts, name == "insertion", batch_size, i, tick)
                if not only_random:
                    result[name][i] = _curve(*args, ranks, *tail)
                if randoms:
                    result[f"random_{name}"][i] = np.mean([_curve(*args, r, *tail) for r in randoms], axis=0)
    settings = {
        "steps": len(counts) - 1,
        "batch_size": batch_size,
        "replacement": replacement,
        "blur_sigma": blur_sigma,
        "random_repeats": random_repeats,
        "seed": seed,
    }
    if baseline is not None:
        result["random_deletion"], result["random_insertion"] = baseline.random_deletion, baseline.random_insertion
        settings["random_repeats"] = baseline.settings.get("random_repeats")
    return FaithfulnessResult(fractions, settings=settings, **result)


def deletion_curve(model, x, saliency, **options):
    """(fractions, scores (N, steps+1)) as voxels are removed, most important first."""
    res = faithfulness(model, x, saliency, random_repeats=0, curves=("deletion",), **options)
    return res.fractions, res.deletion


def insertion_curve(model, x, saliency, **options):
    """(fractions, scores (N, steps+1)) as voxels are revealed, most important first."""
    res = faithfulness(model, x, saliency, random_repeats=0, curves=("insertion",), **options)
    return res.fractions, res.insertion
