"""`RegionGuess`: the predicted region inside one window, guessed from the windows whose outputs are known.

Why: over sliding windows, a region target's output gradient G (class c's channel where the blended
output predicts c) is final only once every window has run, so today's path runs every window twice (a
clean pass, then forward and backward). G on a window's voxels needs only the windows overlapping it,
and the window's own output is known between its forward and its backward. This class keeps the blend of
the outputs known so far (the importance-weighted sum and the importance seen per voxel) and answers, for
one window, the mask and class that G would have if the windows still to run changed nothing; exact on
voxels no unknown window covers. It also counts how often a newly known window changed the predicted mask
where it overlaps known windows (the evidence `core/wavefront.py` uses to decide whether guessing pays).
"""

from __future__ import annotations

import torch

from .sliding_window import WindowPlan


def neighbours(plan: WindowPlan) -> list[set]:
    """Per window, the other windows whose voxels overlap its own."""
    starts, roi = plan.starts, plan.roi
    return [
        {u for u in range(len(starts)) if u != w and all(abs(a - b) < r for a, b, r in zip(starts[w], starts[u], roi))}
        for w in range(len(starts))
    ]


def winners(blend: torch.Tensor) -> torch.Tensor:
    """The class each voxel of a (K, *region) output predicts: argmax over K (the first of equal maxima), one
    channel: logit > 0. A running maximum: ~100x faster on the CPU than torch's argmax over the first axis."""
    if blend.shape[0] == 1:
        return (blend[0] > 0).long()
    best, index = blend[0].clone(), torch.zeros(blend.shape[1:], dtype=torch.long, device=blend.device)
    for k in range(1, blend.shape[0]):
        better = blend[k] > best
        best = torch.where(better, blend[k], best)
        index.masked_fill_(better, k)
    return index


def grid_inside(plan: WindowPlan) -> torch.Tensor:
    """The padded grid's voxels that belong to the image (where the target's region can be), as bool."""
    inside = torch.zeros(plan.padded, dtype=torch.bool, device=plan.count.device)
    inside[plan.crop] = True
    return inside


def region_mask(blend: torch.Tensor, c: int, inside: torch.Tensor) -> torch.Tensor:
    """The region target's rule on a blended (K, *region) output: argmax == c (one channel: logit > 0), and
    never in the padding (`inside`: grid_inside at the same voxels; the output is cropped before the target)."""
    return (winners(blend) == (c if blend.shape[0] > 1 else 1)) & inside


def overlap(plan: WindowPlan, w: int, u: int) -> tuple[tuple, tuple]:
    """The voxels windows w and u share: (slices on the padded grid, slices inside window w)."""
    grid, inside = [], []
    for a, b, r in zip(plan.starts[w], plan.starts[u], plan.roi):
        lo, hi = max(a, b), min(a, b) + r
        grid.append(slice(lo, hi))
        inside.append(slice(lo - a, hi - a))
    return tuple(grid), tuple(inside)


class RegionGuess:
    """The known part of the blended output of n samples, and the region guessed from it per window.

    ``classes``: per sample the requested class or None (the class most often predicted so far, as the
    target's default, from the known windows' own predictions)."""

    def __init__(self, plan: WindowPlan, n: int, classes: list):
        self.plan, self.n = plan, n
        self.requested = list(classes)
        self.total = None  # (n, K, *padded): sum of importance x output over the known windows
        self.seen = torch.zeros((n, *plan.padded), dtype=plan.importance.dtype, device=plan.importance.device)
        self.known: set = set()  # items (i, w) whose output is in the blend
        self.votes = None  # (n, K): per sample, voxels each class won in the known windows' own outputs
        self.neighbours = neighbours(plan)
        self.inside = grid_inside(plan)
        self.events = 0  # (newly known window, known neighbour) pairs compared
        self.flips = 0  # of those, how many changed the guessed mask on the shared voxels

    # --- guesses ----------------------------------------------------------------------------------------
    def channels(self) -> int | None:
        return None if self.total is None else int(self.total.shape[1])

    def class_of(self, i: int) -> int:
        if self.requested[i] is not None:
            return int(self.requested[i])
        if self.votes is None or self.votes.shape[1] == 1:
            return 0
        counts = self.votes[i].clone()
        counts[0] = -1  # background never is the default class
        return int(counts.argmax())

    def _mask(self, blend: torch.Tensor, c: int, slices: tuple) -> torch.Tensor:
        """The target's own rule on a blended (K, *region) output at `slices` of the padded grid."""
        return region_mask(blend, c, self.inside[slices])

    def _partial(self, i: int, slices: tuple, extra: torch.Tensor | None = None, extra_seen=None) -> torch.Tensor:
        total, seen = self.total[(i, slice(None), *slices)], self.seen[(i, *slices)]
        if extra is not None:
            total, seen = total + extra, seen + extra_seen
        return total / seen.clamp_min(torch.finfo(seen.dtype).tiny)

    def guess(self, item, own: torch.Tensor | None = None) -> tuple[int, torch.Tensor]:
        """(class, mask over the window (*roi) as bool) for window `item`, from the known blend plus `own`
        (the window's own output (K, *roi), when it is not yet in the blend)."""
        i, w = item
        c = self.class_of(i)
        slices = self.plan.slices(w)
        if own is None:
            return c, self._mask(self._partial(i, slices), c, slices)
        importance = self.plan.importance.to(own.dtype)
        if self.total is None:
            return c, self._mask(own, c, slices)
        return c, self._mask(self._partial(i, slices, own * importance, importance), c, slices)

    def region_seen(self, item) -> tuple[bool, bool]:
        """(whether any voxel of the window is covered by a known window, whether one of those is in the
        guessed region): a window whose known part shows no region is probably outside it."""
        i, w = item
        slices = self.plan.slices(w)
        covered = self.seen[(i, *slices)] > 0
        if self.total is None or not bool(covered.any()):
            return False, False
        mask = self._mask(self._partial(i, slices), self.class_of(i), slices)
        return True, bool((mask & covered).any())

    def unknown_neighbours(self, item) -> int:
        i, w = item
        return sum((i, u) not in self.known for u in self.neighbours[w])

    def flip_rate(self) -> float:
        """How often a newly known window changed the guessed mask of a known neighbour (Laplace's estimate:
        0.5 before any evidence)."""
        return (self.flips + 1) / (self.events + 2)

    # --- the blend --------------------------------------------------------------------------------------
    def add(self, item, output: torch.Tensor) -> None:
        """Put window `item`'s output (K, *roi) into the blend, counting masks it changed on known neighbours."""
        i, w = item
        output = output.detach()
        if self.total is None:
            k = output.shape[0]
            self.total = torch.zeros((self.n, k, *self.plan.padded), dtype=output.dtype, device=output.device)
            self.votes = torch.zeros((self.n, k), dtype=torch.long, device=output.device)
        c = self.class_of(i)
        before = []
        for u in self.neighbours[w]:
            if (i, u) in self.known:
                grid, _ = overlap(self.plan, u, w)
                before.append((grid, self._mask(self._partial(i, grid), c, grid)))
        importance = self.plan.importance.to(output.dtype)
        slices = self.plan.slices(w)
        self.total[(i, slice(None), *slices)] += output * importance
        self.seen[(i, *slices)] += importance.to(self.seen.dtype)
        for grid, mask in before:
            self.events += 1
            self.flips += int(not torch.equal(mask, self._mask(self._partial(i, grid), c, grid)))
        if self.requested[i] is None and output.shape[0] > 1:  # the default class is voted for
            won = winners(output)[self.inside[slices]]
            self.votes[i] += torch.bincount(won, minlength=output.shape[0])
        self.known.add(item)

    def blended(self) -> torch.Tensor:
        """The blended output on the grid (N, K, *shape) once every window is known (MONAI's division)."""
        return self.plan.finish(self.total)
