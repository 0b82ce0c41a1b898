"""Pick the faster memory layout for a many-pass method by timing its first batches both ways.

Why: the channels-last 3D layout made a small 3D CNN's convolutions 3-4x faster on CPU but
DenseNet121-3D 10% slower; a method about to run hundreds of forwards can afford one timed batch in
each layout. The user's model is never converted: the channels-last variant is a private deep copy
(weights only, a few tens of MB) used for this run and then dropped.
"""

from __future__ import annotations

import contextlib
import copy
import time

import torch

from ...errors import SaliencyError

LAYOUTS = ("auto", "contiguous", "channels-last")
MIN_BATCHES_TO_TUNE = 5  # the trial batches do real work; only the model copy is extra
# "auto" tries channels-last only for models whose weights are at most this large: DenseNet121-3D (45 MB)
# ran 10% slower channels-last and its copy took occlusion's peak from +24 MB (MONAI's +33 MB) to +109 MB.
MAX_COPY_BYTES = 16 << 20


def _weight_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in model.parameters())


def check_layout(layout) -> str:

    if layout not in LAYOUTS:
        raise SaliencyError(f"layout={layout!r} is unknown; use one of {', '.join(LAYOUTS)}.")
    return layout


class LayoutChooser:
    """Decides per batch which model and input layout to use; `use(run)` applies the choice."""

    def __init__(self, run, layout: str, batches: int):
        layout = check_layout(layout)
        self.run = run
        self.copy = None
        self.timings = {}
        three_d = run.x.dim() == 5
        if layout == "channels-last" and not three_d:
            layout = "contiguous"
        if layout == "auto":
            layout = "auto" if three_d and batches >= MIN_BATCHES_TO_TUNE else "contiguous"
        if layout == "auto" and _weight_bytes(run.model) > MAX_COPY_BYTES:
            layout = "contiguous"  # the copy would cost more memory than the whole occlusion run otherwise needs
        self.layout = layout
        self.batch = 0

    def _copy(self):
        if self.copy is None:
            try:
                self.copy = copy.deepcopy(self.run.model).to(memory_format=torch.channels_last_3d)
            except Exception:  # a model that cannot be copied keeps its own layout
                self.layout = "contiguous"
                return None
        return self.copy

    def _current(self) -> str:
        if self.layout != "auto":
            return self.layout
        # batch 0 warms up, batch 1 is timed contiguous, batch 2 warms channels-last, batch 3 is timed
        trial = {0: "contiguous", 1: "contiguous", 2: "channels-last", 3: "channels-last"}
        if self.batch in trial:
            return trial[self.batch]
        self.layout = min(self.timings, key=self.timings.get)
        if self.layout == "contiguous":
            self.copy = None  # the channels-last copy lost: its memory goes back now, not at the end of the run
        return self.layout

    @contextlib.contextmanager
    def use(self, batch: torch.Tensor):
        """Run one batch's forward in the chosen layout (the run's model swapped only inside)."""
        layout = self._current()
        model = self._copy() if layout == "channels-last" else None
        if layout == "channels-last" and model is None:
            layout = "contiguous"
        original = self.run.model
        started = time.perf_counter()
        try:
            if model is not None:
                self.run.model = model
                yield batch.contiguous(memory_format=torch.channels_last_3d)
            else:
                yield batch
        finally:
            self.run.model = original
            if self.batch in (1, 3) and self.layout == "auto":
                self.timings[layout] = (time.perf_counter() - started) / max(int(batch.shape[0]), 1)
            self.batch += 1
