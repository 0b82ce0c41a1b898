"""Window batches for the passes with a graph (and the windows a perturbation changed): on the CPU, two, not one.

Why: for a batch of one, ATen runs a 3D convolution through its native kernel whenever N*C*D*H <= 20480 (a
U-Net's deeper, narrower levels), and through oneDNN for any batch of two or more (``ConvParams::use_mkldnn``
in ATen's Convolution.cpp, "for some case, native is faster"). On MONAI's SegResNet with 64^3 windows (one
thread) a pair's forward and backward took 0.58 s, one window's alone 0.61-0.69 s. The clean pass keeps the
card's ``sw_batch_size``, so the blended output and the prediction stay MONAI's own; the gradients of a pair
differ from one window's by float rounding only. The first batch runs at ``sw_batch_size`` and measures its
autograd graph (the tensors saved for backward); pairs follow only if two graphs fit in an eighth of the free
memory.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .resources import available_memory

PAIR = 2  # three windows per pass measured no faster per window than two (2.29x against 2.16x MONAI's time)
MEMORY_SHARE = 8  # pairs only when two windows' graphs take at most 1/8 of the free memory
ENABLED = True  # False: one window per pass everywhere (tests of the one-window paths, benchmarks' before)


def pairs_pay(run) -> bool:
    """Whether passes with a graph over `run`'s windows (a WindowedRun) should go in pairs: the CPU with oneDNN,
    one window per batch in the card, more than one window, and no ``batch_size=1`` (or SALIENCY_BATCH_SIZE=1):
    the caller's way to keep one window's graph, for the least memory (then the wavefront runs)."""
    mkldnn = torch.backends.mkldnn
    one = run.batch_size == 1 or (run.batch_size is None and os.environ.get("SALIENCY_BATCH_SIZE", "").strip() == "1")
    return (
        ENABLED
        and not one
        and run.device.type == "cpu"
        and run.sliding.sw_batch_size == 1
        and len(run.plan) * run.x.shape[0] > 1
        and mkldnn.is_available()
        and mkldnn.enabled
    )


class GraphBytes:
    """Counts the bytes autograd saves for backward while active (each storage once, parameters not)."""

    def __init__(self):
        self.total, self._seen = 0, set()
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if isinstance(t, nn.Parameter) or t.device.type == "meta":
            return t
        try:
            key, nbytes = t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # a tensor without a plain storage (opaque layouts): its size
            key, nbytes = id(t), t.numel() * t.element_size()
        if key not in self._seen:
            self._seen.add(key)
            self.total += nbytes
        return t

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)


def graph_batches(run, items: list, pairs: bool = True):
    """`items` in the batches of `run`'s passes with a graph: ``sw_batch_size``, then pairs where they pay and
    fit. The caller's work on the first batch runs inside this generator's graph measurement."""
    size = run.sliding.sw_batch_size
    if not items:
        return
    if not (pairs and pairs_pay(run)) or len(items) <= size:
        yield from run.plan.batches(items, size)
        return
    first, rest = items[:size], items[size:]
    with GraphBytes() as graph:
        yield first
    free = available_memory()
    per_window = graph.total / len(first)
    fits = free is None or PAIR * per_window * MEMORY_SHARE <= free
    run.window_counts["graph_batch"] = PAIR if fits else size
    yield from run.plan.batches(rest, PAIR if fits else size)
