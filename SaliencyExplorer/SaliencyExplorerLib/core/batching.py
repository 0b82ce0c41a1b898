"""Many-pass methods: batch sizes under a memory bound, progress reports and cancellation.

Perturbation methods evaluate the model hundreds of times; they build each batch of perturbed inputs in a
reused buffer, size batches from the memory actually free, report `progress(done, total)` and stop within
one batch when `cancel` is set.
"""

from __future__ import annotations

import logging
import numbers
import os
from typing import Callable

import torch

from ..errors import ExplanationCancelled, SaliencyError


def is_cancelled(cancel) -> bool:
    """`cancel` may be None, a threading.Event-like object, or a callable returning True to stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def check_cancel(cancel) -> None:
    if is_cancelled(cancel):
        raise ExplanationCancelled("The explanation was cancelled; nothing was written.")


class Progress:
    """Counts work done against a known total and tells the caller; reaches the total exactly once."""

    def __init__(self, callback: Callable | None, total: int, cancel=None):
        self.callback = callback
        self.total = max(int(total), 0)
        self.done = 0
        self.cancel = cancel
        self.started = False

    def start(self):
        self.started = True
        check_cancel(self.cancel)
        if self.callback:
            self.callback(0, self.total)

    def status(self, text: str) -> None:
        """A one-line status for the caller (a plan, an estimate): given to ``callback.status(text)`` when the
        progress callback has such a method (the CLI bar and the worker do), else logged at INFO."""
        say = getattr(self.callback, "status", None)
        if callable(say):
            say(text)
        else:
            logging.getLogger("SaliencyExplorerLib").info(text)

    def advance(self, amount: int = 1):
        self.done = min(self.done + int(amount), self.total)
        if self.callback:
            self.callback(self.done, self.total)
        if self.done < self.total:
            check_cancel(self.cancel)


def available_memory_bytes(device: torch.device) -> int:
    """Memory free for new tensors on `device` (GPU: the driver's free figure; CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def auto_batch_size(
    per_sample_bytes: int, device: torch.device, cap: int = 32, fraction: float = 0.25, limit: int | None = None
) -> int:
    """The largest batch whose estimated working memory fits a fraction of what is free (at least 1)."""
    budget = available_memory_bytes(device) * fraction
    size = int(budget // max(int(per_sample_bytes), 1))
    size = max(1, min(size, cap))
    return min(size, limit) if limit else size


def resolve_batch_size(batch_size, per_sample_bytes: int, device: torch.device, total: int) -> int:
    """The caller's batch size when given (validated), otherwise one chosen from free memory."""
    if batch_size is None:
        env = os.environ.get("SALIENCY_BATCH_SIZE", "").strip()
        if env:
            if not env.isdigit() or int(env) < 1:
                raise SaliencyError(
                    f"The environment variable SALIENCY_BATCH_SIZE={env!r} is not a positive "
                    "integer. Set it to e.g. 8, or unset it for an automatic batch size."
                )
            batch_size = int(env)
    if batch_size is None:
        return auto_batch_size(per_sample_bytes, device, limit=max(total, 1))
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise SaliencyError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return min(int(batch_size), max(total, 1))


CPU_BATCH_BUDGET = 256 << 20  # bytes of working memory a CPU batch may use when the caller chose no size


def bounded_batch_size(
    batch_size, per_sample_bytes: int, device: torch.device, total: int, cpu_budget: int = CPU_BATCH_BUDGET
) -> int:
    """`resolve_batch_size`, but on CPU an automatic batch never exceeds `cpu_budget` bytes.

    Why: on CPU a large 3D model gains nothing per sample from batching (measured on DenseNet121-3D),
    while peak memory grows with the batch; small models still get batches of many samples.
    """
    if batch_size is not None or os.environ.get("SALIENCY_BATCH_SIZE"):
        return resolve_batch_size(batch_size, per_sample_bytes, device, total)
    size = auto_batch_size(per_sample_bytes, device, limit=max(total, 1))
    if device.type != "cuda":
        size = max(1, min(size, int(cpu_budget // max(int(per_sample_bytes), 1))))
    return size


def batch_ranges(total: int, batch_size: int, progress: Progress):
    """Yield (start, stop) per batch; after each batch the progress advances and cancellation is checked,
    so a cancelled run stops within one batch. A method with several phases passes the same Progress
    to each; only the first starts it, so the total is reported once and reached once."""
    if not progress.started:
        progress.start()
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        yield start, stop
        progress.advance(stop - start)
