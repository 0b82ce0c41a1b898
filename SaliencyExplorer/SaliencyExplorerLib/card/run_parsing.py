"""Reading a card's ``inference`` (how the model is run: whole, or MONAI's sliding windows in either form,
test-time mirroring) and ``output`` (what its output means and how its answer is made), apart from the rest
of the parser because these sections mirror MONAI's inferer and postprocessing arguments."""

from __future__ import annotations

from ..errors import CardError
from .readers import _bool, _fail, _int, _number, _object, _per_axis_numbers, _str
from .spec import (
    ACTIVATIONS,
    BLEND_MODES,
    INFERENCE_MODES,
    PADDING_MODES,
    RESAMPLE_BACK,
    SMOOTH_EDGES,
    SMOOTH_KERNELS,
    TILINGS,
    InferenceSpec,
    OutputSpec,
    SmoothSpec,
)


def _overlap(value, where):
    number = _number(value, where)
    if not 0 <= number < 1:
        _fail(where, f"must be in [0, 1), got {value!r}", "Use a fraction of the window such as 0.25 or 0.5.")
    return number


SLIDING_WINDOW_ARGS = {"roi_size", "sw_batch_size", "overlap", "mode", "sigma_scale", "padding_mode", "cval"}


# SlidingWindowInferer arguments that do not change its output (where it runs, progress, caching, buffering)
SLIDING_WINDOW_NO_EFFECT = {
    "sw_device",
    "device",
    "progress",
    "cache_roi_weight_map",
    "cpu_thresh",
    "buffer_steps",
    "buffer_dim",
    "with_coord",
}


def _monai_inference(value, dims):
    """``{"sliding_window": {...}}`` with SlidingWindowInferer's own arguments (``mode`` is the blend) -> the
    flat form (``mode: "sliding_window"``, ``blend``); any other form is returned as it is."""
    if not isinstance(value, dict) or "sliding_window" not in value:
        return value
    flat = {k: v for k, v in value.items() if k != "sliding_window"}
    if flat.pop("mode", "sliding_window") != "sliding_window":
        _fail(
            "inference.mode",
            f"is {value['mode']!r} beside inference.sliding_window",
            "Drop inference.mode: a sliding_window section says how the model runs.",
        )
    if set(flat) & (SLIDING_WINDOW_ARGS | {"blend"}):
        _fail("inference", "gives window settings both inside and beside sliding_window", "Give them inside only.")
    where = "inference.sliding_window"
    window = _object(
        value["sliding_window"], where, SLIDING_WINDOW_ARGS | SLIDING_WINDOW_NO_EFFECT, required=("roi_size",)
    )
    if window.get("with_coord"):
        _fail(
            f"{where}.with_coord",
            "is true (the model would be called with the window's coordinates)",
            "Only models called with the window alone are explained; set it false.",
        )
    for key in SLIDING_WINDOW_ARGS - {"mode"}:
        if key in window:
            flat[key] = window[key]
    if isinstance(flat["roi_size"], int) and not isinstance(flat["roi_size"], bool):
        flat["roi_size"] = [flat["roi_size"]] * dims  # MONAI repeats one size for every axis
    if "mode" in window:
        flat["blend"] = _str(window["mode"], f"{where}.mode", BLEND_MODES)
    flat["mode"] = "sliding_window"
    return flat


def _inference(value, dims):
    flat = _monai_inference(value, dims)
    if flat is value:
        return _flat_inference(value, dims)
    try:
        return _flat_inference(flat, dims)
    except CardError as exc:  # name the field as the user wrote it
        text = str(exc).replace("'inference.blend'", "'inference.sliding_window.mode'")
        for key in SLIDING_WINDOW_ARGS:
            text = text.replace(f"'inference.{key}", f"'inference.sliding_window.{key}")
        raise CardError(text) from None


def _flat_inference(value, dims):
    value = _object(
        value,
        "inference",
        {
            "mode",
            "roi_size",
            "overlap",
            "blend",
            "sigma_scale",
            "padding_mode",
            "cval",
            "sw_batch_size",
            "tiling",
            "mirror_axes",
        },
        required=("mode",),
    )
    mode = _str(value["mode"], "inference.mode", INFERENCE_MODES)
    mirror = _mirror_axes(value.get("mirror_axes", []), dims)
    if mode == "whole":
        _object(value, "inference", {"mode", "mirror_axes"})
        return InferenceSpec(mirror_axes=mirror)
    if "roi_size" not in value:
        _fail(
            "inference.roi_size", "missing", "Give the window size in the model tensor's axis order, e.g. [96, 96, 96]."
        )
    roi = value["roi_size"]
    if not isinstance(roi, list) or len(roi) != dims:
        _fail(
            "inference.roi_size",
            f"expected a list of {dims} window sizes (one per spatial axis), got {roi!r}",
            f"Write {dims} positive integers in the model tensor's axis order, e.g. {[96] * dims}.",
        )
    roi = tuple(_int(v, f"inference.roi_size[{n}]", minimum=1) for n, v in enumerate(roi))
    return InferenceSpec(
        mode=mode,
        roi_size=roi,
        overlap=_per_axis_numbers(value.get("overlap", 0.25), "inference.overlap", dims, _overlap),
        blend=_str(value.get("blend", "constant"), "inference.blend", BLEND_MODES),
        sigma_scale=_per_axis_numbers(
            value.get("sigma_scale", 0.125), "inference.sigma_scale", dims, lambda v, w: _number(v, w, positive=True)
        ),
        padding_mode=_str(value.get("padding_mode", "constant"), "inference.padding_mode", PADDING_MODES),
        cval=_number(value.get("cval", 0.0), "inference.cval"),
        sw_batch_size=_int(value.get("sw_batch_size", 1), "inference.sw_batch_size", minimum=1),
        tiling=_str(value.get("tiling", "monai"), "inference.tiling", TILINGS),
        mirror_axes=mirror,
    )


def _mirror_axes(value, dims):
    """Test-time mirroring axes (tensor spatial axes 0..dims-1, nnU-Net's inference_allowed_mirroring_axes)."""
    if not isinstance(value, list):
        _fail(
            "inference.mirror_axes",
            f"expected a list of spatial axes, got {value!r}",
            f"Give axes in the model tensor's spatial order, e.g. {list(range(dims))}, or [] for none.",
        )
    axes = tuple(_int(v, f"inference.mirror_axes[{n}]", minimum=0) for n, v in enumerate(value))
    if any(a >= dims for a in axes) or len(set(axes)) != len(axes):
        _fail(
            "inference.mirror_axes",
            f"{list(axes)} names an axis twice or beyond the model's {dims} spatial axes",
            f"Use distinct axes among {list(range(dims))}.",
        )
    return axes


def _output(value, dims):
    """output: the activation, the explained element (key) and how the prediction is made (see OutputSpec)."""
    value = _object(
        value, "output", {"activation", "key", "threshold", "smooth", "resample", "largest_component", "region_labels"}
    )
    key = value.get("key")
    if key is not None and (isinstance(key, bool) or not isinstance(key, (str, int))):
        _fail("output.key", f"expected a string, an integer or null, got {key!r}", "Name the output element.")
    threshold = _number(value.get("threshold", 0.5), "output.threshold")
    if not 0 < threshold < 1:
        _fail("output.threshold", f"must be a probability in (0, 1), got {threshold}", "Use e.g. 0.5 or 0.55.")
    smooth = value.get("smooth")
    if smooth is not None:
        _object(smooth, "output.smooth", {"sigma", "kernel", "edges"}, required=("sigma",))
        smooth = SmoothSpec(
            sigma=_per_axis_numbers(
                smooth["sigma"], "output.smooth.sigma", dims, lambda v, w: _number(v, w, positive=True)
            ),
            kernel=_str(smooth.get("kernel", "erf"), "output.smooth.kernel", SMOOTH_KERNELS),
            edges=_str(smooth.get("edges", "zeros"), "output.smooth.edges", SMOOTH_EDGES),
        )
    return OutputSpec(
        activation=_str(value.get("activation", "auto"), "output.activation", ACTIVATIONS),
        key=key,
        threshold=threshold,
        smooth=smooth,
        resample=_str(value.get("resample", "auto"), "output.resample", RESAMPLE_BACK),
        largest_component=_bool(value.get("largest_component", False), "output.largest_component"),
        region_labels=_region_labels(value.get("region_labels")),
    )


def _region_labels(value):
    """output.region_labels: the label each sigmoid channel draws, in order (nnU-Net's regions_class_order)."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**15 for v in value)
    ):
        _fail(
            "output.region_labels",
            f"expected a list of label values 1..32767, one per output channel, got {value!r}",
            "List the label each sigmoid channel draws, e.g. [1, 2, 3] (nnU-Net's regions_class_order).",
        )
    return tuple(value)
