"""`ReadyWindows`: during the clean pass, the windows whose region target weights are already final.

Why: a whole-scan CAM over the predicted region keeps each window's layer output from the clean pass
(`core/tail.py`) until the region is known, i.e. every window's, until the last window has run. But window w's
share of the output gradient (class c where the blended output predicts c) reads only the voxels of w, which
are final once every window overlapping w has run. Windows run in MONAI's order, so that happens about one
slab of windows later: explaining each window then, and dropping its stored outputs, bounds the store to
that slab. Exact (the same partial sums, the same division as the blend), for a given class; a window with no
region voxel waits for the end (its weights change only if the class is predicted nowhere: then the whole
grid is explained, its stored outputs dropped, and it is recomputed).
"""

from __future__ import annotations

import numbers

import torch

from .region_guess import grid_inside, neighbours, region_mask
from .sliding_window import WindowPlan
from .targets import _class_list


def applies(run) -> bool:
    """A given class per sample (int or list of ints) over the predicted region (no mask): weights final early."""
    target = run.requested_target
    classes = target if isinstance(target, (list, tuple)) else [target]
    return (
        run.mask is None
        and run.task in (None, "segmentation")
        and run.clean_output is None
        and all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in classes)
    )


class ReadyWindows:
    """Tracks which windows ran; answers those whose every overlapping window ran, with their final weights."""

    def __init__(self, plan: WindowPlan, n: int, target):
        self.plan, self.n, self.target = plan, n, target
        self.neighbours = neighbours(plan)
        self.recorded: set = set()
        self.done: set = set()  # answered as ready
        self.explained: set = set()  # explained during the clean pass (the others wait for the end)
        self.classes = None
        self.inside = grid_inside(plan)

    def add(self, items, total: torch.Tensor) -> list:
        """Mark `items` as run (their outputs in `total`); the windows now ready, in MONAI's order."""
        if self.classes is None:  # a class the model lacks fails on the first batch, as the target would
            self.classes = _class_list(self.target, self.n, int(total.shape[1]), [0] * self.n)
        self.recorded.update(items)
        candidates = {(i, u) for i, w in items for u in (w, *self.neighbours[w])}
        ready = [
            item
            for item in candidates
            if item in self.recorded
            and item not in self.done
            and all((item[0], u) in self.recorded for u in self.neighbours[item[1]])
        ]
        self.done.update(ready)
        return sorted(ready)

    def weights(self, item, total: torch.Tensor) -> torch.Tensor:
        """dS/dY on window `item` (K, *roi): class c's channel where the blend's argmax is c (one channel:
        logit > 0), never in the padding; exactly the values the finished blend gives there."""
        i, w = item
        slices = self.plan.slices(w)
        blend = total[(i, slice(None), *slices)] / self.plan.count[slices].to(total.dtype)
        c = self.classes[i]
        mask = region_mask(blend, c, self.inside[slices])
        weights = torch.zeros_like(blend)
        weights[c] = mask.to(blend.dtype)
        return weights
