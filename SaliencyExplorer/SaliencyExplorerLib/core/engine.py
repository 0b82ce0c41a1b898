"""`explain()`: the one entry point of the engine, for every method, 1-3 spatial dims, any batch size.

It validates the input, resolves the method, layers and target, runs the method with the model guarded
(eval mode, flags restored, hooks removed even on error), upsamples the map to the input's size and
normalises it per sample so that 1 = most important.
"""

from __future__ import annotations

import itertools
import time
import weakref
from functools import partial

import numpy as np
import torch
from torch import nn

from ..errors import SaliencyError
from .layers import default_layer, resolve_layers
from .maps import to_heatmap, to_host, upsample
from .method import MethodOutput, get_method
from .model_call import model_probe
from .model_guard import guarded
from .options import DEFAULT_METHOD
from .result import Explanation
from .run import ExplainRun
from .sliding_window import SlidingWindow
from .windowed_run import WindowedRun


def _model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def prepare_input(x, model: nn.Module) -> torch.Tensor:
    """A detached float tensor (N, C, *spatial) on the model's device; bad shapes and values refused."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise SaliencyError(f"x must be a torch tensor or numpy array; got {type(x).__name__}.")
    if x.dim() not in (3, 4, 5):
        raise SaliencyError(
            f"x has shape {tuple(x.shape)} ({x.dim()} dims); it must be (N, C, *spatial) with 1, 2 or 3 "
            f"spatial dims, e.g. (1, 1, 96, 96, 96). Add the batch/channel axes with x[None, None]."
        )
    if any(s == 0 for s in x.shape):
        raise SaliencyError(f"x has an empty axis: shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        x = x.float()
    # a NaN or inf makes the sum non-finite: one cheap reduction (0.02 ms at 64^3, the elementwise check 0.4 ms);
    # the full check runs only then, so a sum that merely overflows is not refused
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise SaliencyError("x contains NaN or infinite values; clean or normalise the input first.")
    return x.detach().to(_model_device(model)).clone()


# Default layer per model and input shape: finding it costs one traced forward pass, so it is found once.
_DEFAULT_LAYERS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _default_layers(model, x, layer_output):
    key = (tuple(x.shape[1:]), layer_output, tuple(n for n, _ in model.named_modules()))
    cache = _DEFAULT_LAYERS.setdefault(model, {})
    if key not in cache:
        cache[key] = default_layer(model, x[:1], layer_output)[0]
    name = cache[key]
    if name is None:
        raise SaliencyError(
            "The model has no layer with spatial output to take a CAM from. Choose a gradient or "
            "perturbation method (e.g. method='saliency' or 'occlusion'), or name a layer."
        )
    return name


def _flip_axes_sets(spatial_dims: int):
    """Test-time augmentation: the identity and a flip along every single spatial axis."""
    return [()] + [(axis,) for axis in range(spatial_dims)]


def explain(
    model: nn.Module,
    x,
    method: str = DEFAULT_METHOD,
    layers=None,
    target=None,
    *,
    task=None,
    mask=None,
    output_key=None,
    layer_output=None,
    grid=None,
    output_activation="auto",
    relu=None,
    aug_smooth=False,
    eigen_smooth=False,
    batch_size=None,
    progress=None,
    cancel=None,
    eval_mode=True,
    sliding_window=None,
    **options,
) -> Explanation:
    """Explain `model`'s output for `x` with `method`; see the README for every option.

    ``sliding_window`` (a SlidingWindow, a dict of its fields or None): the model runs as MONAI's
    sliding_window_inference and the blended output is explained, one window batch at a time."""
    started = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise SaliencyError(
            f"model must be a torch.nn.Module; got {type(model).__name__}. Load model files with load_model()."
        )
    method_cls = get_method(method)
    method_options = method_cls.resolve_options(options)
    check_options = getattr(method_cls, "check_options", None)
    if check_options is not None:  # option values that need the model, before any forward pass
        check_options(model, method_options)
    x = prepare_input(x, model)
    sliding_window = SlidingWindow.of(sliding_window)
    if relu is None:
        relu = not method_cls.signed
    with guarded(model, eval_mode), torch.inference_mode(False):
        resolved = []
        if method_cls.uses_layers:
            if layers is None:  # found on one window when the model runs on windows
                probe = model_probe(x, sliding_window)
                layers = _default_layers(model, probe, layer_output)
            resolved = resolve_layers(model, layers)
        flips = _flip_axes_sets(x.dim() - 2) if aug_smooth else [()]
        runs, maps, extras = [], [], {}
        for axes in flips:
            dims = [a + 2 for a in axes]
            xin = torch.flip(x, dims) if axes else x
            kind = ExplainRun if sliding_window is None else partial(WindowedRun, sliding_window=sliding_window)
            run = kind(
                model,
                xin,
                layers=resolved,
                options=method_options,
                target=target,
                task=task,
                mask=mask,
                output_key=output_key,
                layer_output=layer_output,
                grid=grid,
                output_activation=output_activation,
                relu=relu,
                eigen_smooth=eigen_smooth,
                batch_size=batch_size,
                progress=progress,
                cancel=cancel,
            )
            if axes and runs:  # explain the same class as the unflipped pass
                run.requested_target = runs[0].target.classes if runs[0].target.classes else target
                if hasattr(runs[0].target, "masks") and runs[0].target.masks is not None:
                    run.target = runs[0].target.flipped(axes)
            method_obj = method_cls()
            out = method_obj.compute(run) if sliding_window is None else run.explain_with(method_obj)
            run.ensure_target()  # every run reports the model's clean output, even a method that needed none
            if isinstance(out, MethodOutput):
                extras = out.extras if not axes else extras
                out = out.map
            out = out.detach().float()
            if relu:  # rectify at the method's own resolution, as the CAM papers do, then interpolate
                out = out.clamp_min(0)
            out = upsample(out, x.shape[2:])
            maps.append(torch.flip(out, [a + 1 for a in axes]) if axes else out)
            runs.append(run)
        raw = maps[0] if len(maps) == 1 else torch.stack(maps).mean(0)
    first = runs[0]
    signed = method_cls.signed and not relu
    heatmap = to_heatmap(raw, signed)
    warnings = list(dict.fromkeys(itertools.chain.from_iterable(r.warnings for r in runs)))
    if bool((heatmap.flatten(1).amax(1) == 0).any()):
        warnings.append(
            "The map is constant (all zero) for at least one sample: nothing stood out for "
            "this target and layer; try another layer or method."
        )
    if sliding_window is not None:
        extras["sliding_windows"] = dict(first.window_counts)
    scores = first.clean_output
    return Explanation(
        heatmap=to_host(heatmap),  # on a GPU, copying full-size maps back is most of a Grad-CAM run's cost
        raw=to_host(raw),
        target=list(first.target.classes) if first.target.classes is not None else [None] * x.shape[0],
        scores=scores.detach().cpu().float().numpy(),
        method=method_cls.name,
        signed=signed,
        layers=[name for name, _ in resolved],
        options={**method_options, "relu": relu, "aug_smooth": aug_smooth, "eigen_smooth": eigen_smooth},
        extras={k: (to_host(v) if isinstance(v, torch.Tensor) else v) for k, v in extras.items()},
        warnings=warnings,
        output_activation=getattr(first.target, "activation", None),
        passes={k: sum(r.passes[k] for r in runs) for k in ("forward", "backward", "tail")},
        seconds=time.perf_counter() - started,
    )
