"""Scoring occluded windows: one reused batch buffer, score drops accumulated per voxel and per class."""

from __future__ import annotations

import time

import torch

from ...core.batching import batch_ranges
from ...core.targets import activate
from .fill import Occluder
from .layout import LayoutChooser
from .windows import WindowGrid

MAX_PER_CLASS = 64  # beyond this many classes the per-class maps cost more memory than they are worth


class DropSums:
    """Running weighted sums of score drops per voxel (and per class), and of the weights."""

    def __init__(self, x: torch.Tensor, classes: int | None):
        n, spatial = x.shape[0], x.shape[2:]
        self.drop = torch.zeros((n, *spatial), dtype=torch.float32, device=x.device)
        self.weight = torch.zeros_like(self.drop)
        self.per_class = torch.zeros((n, classes, *spatial), dtype=torch.float32, device=x.device) if classes else None

    def add(self, sample: int, region: tuple, drop, weight, class_drops=None):
        self.drop[(sample, *region)] += drop * weight
        self.weight[(sample, *region)] += weight
        if self.per_class is not None:
            shape = (-1,) + (1,) * len(region)
            self.per_class[(sample, slice(None), *region)] += class_drops.reshape(shape) * weight

    def mean(self):
        covered = self.weight > 0
        safe = torch.where(covered, self.weight, torch.ones_like(self.weight))
        drop = torch.where(covered, self.drop / safe, torch.zeros_like(self.drop))
        per_class = None
        if self.per_class is not None:
            per_class = torch.where(
                covered.unsqueeze(1), self.per_class / safe.unsqueeze(1), torch.zeros_like(self.per_class)
            )
        return drop, per_class, covered


class WindowScorer:
    """Evaluates (sample, window) items batch by batch in one reused buffer and accumulates the drops."""

    def __init__(
        self,
        run,
        buffer_size: int,
        progress,
        per_class: bool = True,
        layout: str = "contiguous",
        plan: dict | None = None,
    ):
        self.run = run
        self.plan = plan  # the run's plan (extras["plan"]); its time estimate is filled in after the first batch
        self._timed = False
        self.layout = LayoutChooser(run, layout, -(-progress.total // buffer_size))
        self.progress = progress
        x = run.x
        self.buffer = torch.empty((buffer_size, *x.shape[1:]), dtype=x.dtype, device=x.device)
        rows = torch.arange(x.shape[0], device=x.device)
        with torch.no_grad():
            self.clean = run.score(run.clean_output, rows, probability=True)
        target = run.target
        output = run.clean_output
        self.activation = getattr(target, "activation", None)
        self.classes = None
        if per_class and output.dim() == 2 and self.activation is not None and output.shape[1] <= MAX_PER_CLASS:
            self.classes = output.shape[1]
            self.clean_all = activate(output, self.activation)

    def evaluate(self, grid: WindowGrid, occluder: Occluder, items: list, sums: DropSums) -> torch.Tensor:
        """Occlude and score every item; returns the target's score drop per item (in item order)."""
        run, x = self.run, self.run.x
        every = []
        weight = occluder.weight(grid.window)
        for start, stop in batch_ranges(len(items), self.buffer.shape[0], self.progress):
            began = time.perf_counter()
            chunk = items[start:stop]
            batch = self.buffer[: len(chunk)]
            for slot, (sample, index) in zip(batch, chunk):
                slot.copy_(x[sample])
                occluder.apply(slot, sample, grid.slices(index))
            rows = torch.as_tensor([sample for sample, _ in chunk], device=x.device)
            with torch.no_grad():
                with self.layout.use(batch) as ready:
                    output = run.forward(ready)
                drops = self.clean[rows] - run.score(output, rows, probability=True)
                class_drops = self.clean_all[rows] - activate(output, self.activation) if self.classes else None
            every.append(drops.float())
            if not self._timed:
                self._estimate(time.perf_counter() - began, len(chunk))
            for j, (sample, index) in enumerate(chunk):
                sums.add(
                    sample, grid.slices(index), drops[j], weight, class_drops[j] if class_drops is not None else None
                )
        return torch.cat(every) if every else torch.zeros(0, device=x.device)

    def _estimate(self, seconds: float, rows: int) -> None:
        """After the first batch: the whole run's time at that batch's pace, in the plan and a status line."""
        self._timed = True
        if self.plan is None:
            return
        total = self.plan["evaluations"]
        self.plan["seconds_per_evaluation"] = round(seconds / max(rows, 1), 4)
        self.plan["estimated_seconds"] = round(seconds / max(rows, 1) * total, 1)
        self.progress.status(
            f"{self.plan['method']}: about {_duration(self.plan['estimated_seconds'])} for "
            f"{total} evaluations (timed on the first batch of {rows})"
        )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def plan_line(plan: dict) -> str:
    """The plan in one line, said before the first model evaluation."""
    window = "x".join(str(w) for w in plan["window"])
    default = " (default window for this grid)" if plan.get("default_window") else ""
    return (
        f"{plan['method']} plan: {plan['windows']} windows of {window}{default}, {plan['evaluations']} "
        f"evaluations in {plan['batches']} batches of {plan['batch_size']}"
    )
