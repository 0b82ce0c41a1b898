"""Sliding-window inference as MONAI runs it: the window plan, the importance map and the blending.

Why: a segmentation model trained on patches runs on a whole scan through
``monai.inferers.sliding_window_inference``: the scan is padded up to at least one window, tiled by
overlapping windows, and their outputs are averaged with an importance map (constant or Gaussian).
Explaining the model as it really runs means explaining that blended output, so this module reproduces
MONAI's plan and arithmetic in plain torch (MONAI is not a runtime dependency; the agreement to float
tolerance is tested against MONAI itself).

    plan = WindowPlan(SlidingWindow(roi_size=(96, 96, 96), blend="gaussian"), x.shape[2:])
    y = plan.infer(model, x)       # == sliding_window_inference(x, (96, 96, 96), 1, model, mode="gaussian")
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import SaliencyError
from .resources import check_memory

BLENDS = ("constant", "gaussian")
PADDINGS = ("constant", "reflect", "replicate", "circular")
TILINGS = ("monai", "nnunet")


def _per_axis(name, value, dims):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * dims
    if len(values) != dims:
        raise SaliencyError(
            f"sliding window {name} has {len(values)} values for {dims} spatial axes; give one value or {dims}."
        )
    return tuple(values)


@dataclass(frozen=True)
class SlidingWindow:
    """MONAI's sliding-window settings (same names, ``blend`` = MONAI's ``mode``); checked on creation."""

    roi_size: tuple
    overlap: tuple | float = 0.25
    blend: str = "constant"
    sigma_scale: tuple | float = 0.125
    padding_mode: str = "constant"
    cval: float = 0.0
    sw_batch_size: int = 1
    tiling: str = "monai"  # "nnunet": nnU-Net's evenly spread window starts and its Gaussian (see WindowPlan)

    @classmethod
    def of(cls, value) -> "SlidingWindow | None":
        """None, a SlidingWindow, a dict of its fields, or a card's InferenceSpec ("whole" -> None)."""
        if value is None or isinstance(value, cls):
            return value
        if getattr(value, "mode", None) is not None and hasattr(value, "sliding"):  # card.InferenceSpec
            if not value.sliding:
                return None
            value = {
                k: getattr(value, k)
                for k in (
                    "roi_size",
                    "overlap",
                    "blend",
                    "sigma_scale",
                    "padding_mode",
                    "cval",
                    "sw_batch_size",
                    "tiling",
                )
            }
        if not isinstance(value, dict):
            raise SaliencyError(f"sliding_window must be None, a dict or a SlidingWindow, not {type(value).__name__}.")
        unknown = sorted(set(value) - set(cls.__dataclass_fields__))
        if unknown:
            raise SaliencyError(
                f"sliding_window has no field(s) {', '.join(unknown)}; its fields are "
                f"{', '.join(cls.__dataclass_fields__)}."
            )
        return cls(**value)

    def __post_init__(self):
        roi = self.roi_size if isinstance(self.roi_size, (list, tuple)) else None
        if not roi or not all(isinstance(r, numbers.Integral) and not isinstance(r, bool) and r >= 1 for r in roi):
            raise SaliencyError(f"sliding window roi_size must be a list of positive integers, got {self.roi_size!r}.")
        object.__setattr__(self, "roi_size", tuple(int(r) for r in roi))
        for name in ("overlap", "sigma_scale"):
            value = getattr(self, name)
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
                raise SaliencyError(f"sliding window {name} must be a number or one per axis, got {value!r}.")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if not all(0 <= o < 1 for o in self.overlap):
            raise SaliencyError(f"sliding window overlap must be in [0, 1), got {self.overlap!r}.")
        if not all(s > 0 for s in self.sigma_scale):
            raise SaliencyError(f"sliding window sigma_scale must be > 0, got {self.sigma_scale!r}.")
        if self.blend not in BLENDS:
            raise SaliencyError(f"sliding window blend {self.blend!r} is not one of {', '.join(BLENDS)}.")
        if self.tiling not in TILINGS:
            raise SaliencyError(f"sliding window tiling {self.tiling!r} is not one of {', '.join(TILINGS)}.")
        if self.padding_mode not in PADDINGS:
            raise SaliencyError(
                f"sliding window padding_mode {self.padding_mode!r} is not one of {', '.join(PADDINGS)}."
            )
        size = self.sw_batch_size
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise SaliencyError(f"sliding window sw_batch_size must be a positive integer, got {size!r}.")


def importance_map(roi_size, blend: str, sigma_scale, dtype=torch.float32, device=None) -> torch.Tensor:
    """Weight of each voxel of a window's output in the blend, as ``monai.data.utils.compute_importance_map``."""
    if blend == "constant":
        weights = torch.ones(roi_size, dtype=torch.float, device=device)
    else:
        sigmas = [size * scale for size, scale in zip(roi_size, _per_axis("sigma_scale", sigma_scale, len(roi_size)))]
        weights = None
        for axis, (size, sigma) in enumerate(zip(roi_size, sigmas)):
            x = torch.arange(start=-(size - 1) / 2.0, end=(size - 1) / 2.0 + 1, dtype=torch.float, device=device)
            x = torch.exp(x**2 / (-2 * sigma**2))
            weights = x if weights is None else weights.unsqueeze(-1) * x[(None,) * axis]
    floor = max(torch.min(weights).item(), 1e-3)  # MONAI: no weight below 1e-3, so every voxel counts
    return torch.clamp_(weights, min=floor).to(dtype)


def nnunet_importance_map(roi_size, sigma_scale, dtype=torch.float32, device=None) -> torch.Tensor:
    """nnU-Net v2's ``compute_gaussian`` (``sigma_scale`` 1/8, ``value_scaling_factor`` 10, float16): a
    Gaussian centred on voxel ``roi // 2`` (not the window's middle), stored as float16, exact zeros replaced
    by the smallest non-zero weight. Reproduced value for value so the blend weights are nnU-Net's own."""
    sigmas = [size * scale for size, scale in zip(roi_size, _per_axis("sigma_scale", sigma_scale, len(roi_size)))]
    weights = None
    for axis, (size, sigma) in enumerate(zip(roi_size, sigmas)):
        x = torch.arange(size, dtype=torch.float64, device=device) - size // 2
        x = torch.exp(x**2 / (-2 * sigma**2))
        weights = x if weights is None else weights.unsqueeze(-1) * x[(None,) * axis]
    weights = (weights / weights.max() * 10).to(torch.float16)
    zero = weights == 0
    if zero.any():
        weights[zero] = weights[~zero].min()
    return weights.to(dtype)


def nnunet_starts(size: int, roi: int, step: float) -> list:
    """nnU-Net's ``compute_steps_for_sliding_window`` on one axis: ceil((size - roi) / (roi x step)) + 1
    windows, spread evenly from 0 to size - roi (rounded)."""
    count = int(math.ceil((size - roi) / (roi * step))) + 1
    if count == 1:
        return [0]
    actual = (size - roi) / (count - 1)
    return [int(round(actual * i)) for i in range(count)]  # Python's round, as numpy's: half to even


class WindowPlan:
    """Where the windows of one grid go, and how their outputs blend (MONAI's arithmetic, step by step).

    The grid is padded (centred) to at least one window per axis; windows start every
    ``int(roi * (1 - overlap))`` voxels, the last one shifted back to end at the border; the output is
    ``sum_w place_w(importance * out_w) / sum_w place_w(importance)``, cropped back to the grid.
    Windows are numbered in MONAI's order (last axis fastest); item ``(i, w)`` is window w of sample i.
    """

    def __init__(self, spec: SlidingWindow, spatial_shape, dtype=torch.float32, device=None):
        dims = len(spatial_shape)
        if len(spec.roi_size) != dims:
            raise SaliencyError(
                f"sliding window roi_size {list(spec.roi_size)} has {len(spec.roi_size)} values "
                f"but the model input has {dims} spatial axes; give {dims} values."
            )
        self.spec = spec
        self.shape = tuple(int(s) for s in spatial_shape)
        self.roi = spec.roi_size
        self.padded = tuple(max(s, r) for s, r in zip(self.shape, self.roi))
        # before any tensor: the padded grid's blend weights and output, and a window's importance map and
        # input/output copies (a 1e5-voxel window per axis is refused here, not by the allocator)
        window, padded = math.prod(self.roi), math.prod(self.padded)
        check_memory(
            (2 * padded + 4 * window) * torch.empty((), dtype=dtype).element_size(),
            f"sliding windows of {list(self.roi)} voxels over a grid of {list(self.shape)}",
            "give the model's real window size (roi_size / patch_size)",
        )
        pad = []
        for axis in reversed(range(dims)):  # F.pad order: last axis first
            diff = max(self.roi[axis] - self.shape[axis], 0)
            pad += [diff // 2, diff - diff // 2]
        self.pad = pad
        self.crop = tuple(slice(pad[2 * (dims - 1 - a)], pad[2 * (dims - 1 - a)] + self.shape[a]) for a in range(dims))
        overlap = _per_axis("overlap", spec.overlap, dims)
        starts = []
        for size, roi, ov in zip(self.padded, self.roi, overlap):
            if spec.tiling == "nnunet":  # tile_step_size = 1 - overlap
                starts.append(nnunet_starts(size, roi, 1.0 - ov))
                continue
            interval = roi if roi == size else max(int(roi * (1 - ov)), 1)
            count = next(d for d in range(math.ceil(size / interval)) if d * interval + roi >= size) + 1
            starts.append([min(d * interval, size - roi) for d in range(count)])
        self.starts = list(itertools.product(*starts))
        if spec.tiling == "nnunet" and spec.blend == "gaussian":
            self.importance = nnunet_importance_map(self.roi, spec.sigma_scale, dtype, device)
        else:
            self.importance = importance_map(self.roi, spec.blend, spec.sigma_scale, dtype, device)
        self.count = torch.zeros(self.padded, dtype=dtype, device=device)
        for w in range(len(self.starts)):
            self.count[self.slices(w)] += self.importance

    def __len__(self) -> int:
        return len(self.starts)

    def slices(self, w: int) -> tuple:
        return tuple(slice(s, s + r) for s, r in zip(self.starts[w], self.roi))

    def items(self, n: int) -> list:
        return [(i, w) for i in range(n) for w in range(len(self))]

    def batches(self, items: list, size: int):
        for start in range(0, len(items), size):
            yield items[start : start + size]

    def pad_input(self, x: torch.Tensor) -> torch.Tensor:
        if not any(self.pad):
            return x
        if self.spec.padding_mode == "constant":
            return F.pad(x, self.pad, mode="constant", value=self.spec.cval)
        return F.pad(x, self.pad, mode=self.spec.padding_mode)

    def pad_output(self, y: torch.Tensor) -> torch.Tensor:
        """Zeros around an output-grid tensor (N, C, *shape) -> (N, C, *padded)."""
        return F.pad(y, self.pad) if any(self.pad) else y

    def gather(self, padded: torch.Tensor, items) -> torch.Tensor:
        """The windows `items` of a padded (N, C, *padded) tensor, stacked as (B, C, *roi)."""
        return torch.stack([padded[(i, slice(None), *self.slices(w))] for i, w in items])

    def weights(self, items, dtype=None) -> torch.Tensor:
        """Per window, importance / count: each window voxel's share of the blended output (B, 1, *roi)."""
        share = torch.stack([self.importance / self.count[self.slices(w)] for _, w in items]).unsqueeze(1)
        return share if dtype is None else share.to(dtype)

    def check_output(self, y: torch.Tensor) -> None:
        if y.dim() != len(self.roi) + 2 or tuple(y.shape[2:]) != self.roi:
            raise SaliencyError(
                f"Sliding-window inference needs a model output with the window's spatial shape "
                f"(B, K, {', '.join(map(str, self.roi))}); the model gives {tuple(y.shape)}. It fits "
                f"segmentation models whose output has the input's size; use inference mode 'whole' otherwise."
            )

    def add(self, total: torch.Tensor, items, values: torch.Tensor, weighted: bool = True) -> None:
        """Place window values (B, C, *roi) into a padded (N, C, *padded) total, times the importance map."""
        values = values * self.importance.to(values.dtype) if weighted else values
        for (i, w), v in zip(items, values):
            total[(i, slice(None), *self.slices(w))] += v

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        """Divide a padded importance-weighted total by the count map and crop it back to the grid."""
        return (total / self.count.to(total.dtype))[(slice(None), slice(None), *self.crop)]

    def infer(self, call, x: torch.Tensor, batch_size: int | None = None, on_batch=None) -> torch.Tensor:
        """The blended output of `call` (model or function: window batch -> output) over the whole `x`."""
        padded = self.pad_input(x)
        total = None
        for items in self.batches(self.items(x.shape[0]), batch_size or self.spec.sw_batch_size):
            y = call(self.gather(padded, items))
            self.check_output(y)
            if total is None:
                total = torch.zeros((x.shape[0], y.shape[1], *self.padded), dtype=y.dtype, device=y.device)
            self.add(total, items, y)
            if on_batch is not None:
                on_batch(items)
        return self.finish(total)
