"""Where occlusion windows go: sizes and strides per axis, full coverage of every axis, ROI restriction.

Everything here is validated before the model is evaluated once, so a window larger than the volume or
a stride of 0 fails immediately with the fix in the message.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import SaliencyError

DEFAULT_WINDOW = 16
DEFAULT_OVERLAP = 0.25
MAX_DEFAULT_WINDOWS = 1000  # a default run: at most this many windows (~minutes for a 3D CNN on CPU)


def per_axis(name: str, value, dims: int) -> list:
    """One value per spatial axis from a scalar or a sequence of `dims` values."""
    if isinstance(value, (numbers.Number, np.number)) and not isinstance(value, bool):
        return [value] * dims
    try:
        values = list(value)
    except TypeError:
        raise SaliencyError(f"{name} must be a number or one number per spatial axis; got {value!r}.") from None
    if len(values) != dims or not all(
        isinstance(v, (numbers.Number, np.number)) and not isinstance(v, bool) for v in values
    ):
        raise SaliencyError(f"{name}={value!r}: give one number, or exactly {dims} (one per spatial axis).")
    return values


def default_window(shape, stride=None, overlap=None, limit: int = MAX_DEFAULT_WINDOWS) -> list[int]:
    """16 voxels per axis (clipped to the input), grown on the axis with most windows until the grid has
    at most `limit` windows. Why: at 256^3 a fixed 16^3 window with overlap 0.25 plans 9,261 windows
    (hours on a CPU); up to 96^3 (512 windows) the window stays 16."""
    sizes = [min(DEFAULT_WINDOW, s) for s in shape]
    if stride is not None:  # a fixed stride: a larger window does not reduce the count
        return sizes
    while True:
        counts = [len(axis_starts(s, w, t)) for s, w, t in zip(shape, sizes, strides(None, overlap, sizes))]
        if int(np.prod(counts)) <= limit:
            return sizes
        axis = max(range(len(shape)), key=lambda a: (counts[a], shape[a] - sizes[a]))
        if sizes[axis] >= shape[axis]:
            return sizes
        sizes[axis] += 1


def window_sizes(window, shape, stride=None, overlap=None) -> list[int]:
    """Voxels per axis: an int is voxels, a float in (0, 1] a fraction of the axis; None = `default_window`."""
    if window is None:
        return default_window(shape, stride, overlap)
    sizes = []
    for value, size in zip(per_axis("window", window, len(shape)), shape):
        if isinstance(value, numbers.Integral):
            voxels = int(value)
        elif 0 < value <= 1:
            voxels = max(1, int(round(value * size)))
        else:
            raise SaliencyError(
                f"window={window!r}: a float window is a fraction of the axis in (0, 1]; use an int for voxels."
            )
        if voxels < 1:
            raise SaliencyError(f"window={window!r}: window sizes must be >= 1 voxel.")
        if voxels > size:
            raise SaliencyError(
                f"window={window!r} is larger than the input ({tuple(shape)} voxels): a window of {voxels} "
                f"does not fit an axis of {size}. Choose a window of at most {size} on that axis."
            )
        sizes.append(voxels)
    return sizes


def strides(stride, overlap, windows: list[int]) -> list[int]:
    """Voxels between window starts: `stride` directly, or from `overlap` (a fraction in [0, 1))."""
    if stride is not None and overlap is not None:
        raise SaliencyError("Give stride= or overlap=, not both (overlap is the fraction windows share).")
    if stride is not None:
        values = per_axis("stride", stride, len(windows))
        for v in values:
            if not isinstance(v, numbers.Integral) or v < 1:
                raise SaliencyError(f"stride={stride!r}: strides must be whole voxels >= 1 (0 would never move).")
        for v, w in zip(values, windows):
            if v > w:  # gaps between windows: some voxels would never be occluded
                raise SaliencyError(
                    f"stride={stride!r} is larger than window={windows!r}: the voxels between "
                    "windows would never be hidden. Use a stride <= the window (or overlap=)."
                )
        return [int(v) for v in values]
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    values = per_axis("overlap", overlap, len(windows))
    if not all(0 <= v < 1 for v in values):
        raise SaliencyError(f"overlap={overlap!r} must be in [0, 1): the fraction of a window its neighbour shares.")
    return [max(1, int(w * (1 - v))) for w, v in zip(windows, values)]


def axis_starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis; a last window flush with the end so every voxel is covered."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


class WindowGrid:
    """All windows of one size and stride over a spatial shape (the Cartesian product of axis starts)."""

    def __init__(self, shape, window: list[int], stride: list[int]):
        self.shape = tuple(shape)
        self.window = list(window)
        self.stride = list(stride)
        self.starts = [axis_starts(s, w, t) for s, w, t in zip(shape, window, stride)]
        self.counts = [len(s) for s in self.starts]

    def __len__(self):
        return int(np.prod(self.counts))

    def start(self, index: int) -> tuple:
        return tuple(axis[i] for axis, i in zip(self.starts, np.unravel_index(index, self.counts)))

    def slices(self, index: int) -> tuple:
        return tuple(slice(b, b + w) for b, w in zip(self.start(index), self.window))

    def pooled(self, maps: torch.Tensor, how: str = "max") -> torch.Tensor:
        """(N, *shape) -> (N, windows): the max, mean ("avg") or sum of each map over each window's extent.

        Why not a stride-1 pooling of the whole map: that computes every possible window position, each at
        the cost of its volume (62 s at 128^3 with 48^3 windows), to then keep a few hundred. Here each axis
        is reduced in turn to the window starts only: a cumulative sum (float64, differences at the starts)
        for sums and means, a max over the window's run for maxima. The cost is about the voxels once per
        axis for sums; exactly one value per window comes out (`pooled_positions` counts them).
        """
        if how not in ("max", "avg", "sum"):
            raise ValueError(f"pooled: how={how!r}")  # a programming error, not user input
        value = maps.double() if how != "max" else maps.float()
        for axis, (starts, size) in enumerate(zip(self.starts, self.window)):
            dim = axis + 1
            if how == "max":
                value = torch.stack([value.narrow(dim, b, size).amax(dim) for b in starts], dim)
            else:
                shape = list(value.shape)
                shape[dim] = 1
                cumulative = torch.cat([value.new_zeros(shape), value.cumsum(dim)], dim)
                begin = torch.as_tensor(starts, device=maps.device)
                value = cumulative.index_select(dim, begin + size) - cumulative.index_select(dim, begin)
        self.pooled_positions = int(value[0].numel()) if value.shape[0] else 0
        if how == "avg":
            value = value / float(np.prod(self.window))
        return value.float().flatten(1)

    def reference_pooled(self, maps: torch.Tensor, how: str = "max") -> torch.Tensor:
        """The former stride-1 pooling over every position (kept for tests: same values, voxel x window cost)."""
        pool = (
            {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
            if how == "max"
            else {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
        )
        every = pool[len(self.shape)](maps.unsqueeze(1).float(), kernel_size=self.window, stride=1)[:, 0]
        grids = [torch.as_tensor(s, device=maps.device) for s in self.starts]
        index = torch.meshgrid(*grids, indexing="ij")
        return every[(slice(None), *index)].flatten(1)


def roi_masks(roi, n: int, shape) -> torch.Tensor | None:
    """The region of interest as a bool tensor (N, *shape), or None for the whole image."""
    if roi is None:
        return None
    value = torch.as_tensor(np.asarray(roi) if not isinstance(roi, torch.Tensor) else roi)
    if tuple(value.shape) == tuple(shape):
        value = value.unsqueeze(0).expand(n, *shape)
    if tuple(value.shape) != (n, *shape):
        raise SaliencyError(
            f"roi has shape {tuple(value.shape)}; it must be {tuple(shape)} or {(n, *shape)} (a mask on the "
            f"input grid, True where windows should be evaluated)."
        )
    value = value.bool()
    if not bool(value.flatten(1).any(1).all()):
        raise SaliencyError("roi is empty for at least one sample: mark at least one voxel True.")
    return value


def selected_windows(grid: WindowGrid, roi: torch.Tensor | None, n: int) -> list[list[int]]:
    """Per sample, the indices of the windows to evaluate: all, or those overlapping the ROI."""
    if roi is None:
        return [list(range(len(grid)))] * n
    hit = grid.pooled(roi.float(), "max") > 0
    return [torch.nonzero(row).flatten().tolist() for row in hit]
