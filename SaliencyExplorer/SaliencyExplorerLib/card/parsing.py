"""Reading a model card: a strict hand-written parser (no runtime dependency) that names the bad field
(``input.spacing[1]``) and the fix; ``load_card`` from a path, dict or ModelCard; the card beside a model.
The typed readers are in ``readers``, the ``inference`` and ``output`` sections in ``run_parsing``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CardError
from .chain_parsing import localiser, previous_stage
from .readers import _bool, _fail, _int, _number, _object, _str
from .run_parsing import _inference, _output
from .spec import (
    ARRAY_ORDERS,
    AXIS_PAIRS,
    CROP_SELECT,
    CROP_SOURCES,
    FIT_MODES,
    INTERPOLATIONS,
    READERS,
    REORIENT_MODES,
    RESAMPLINGS,
    SLICE_AXES,
    STAGES,
    STEP_FIELDS,
    TASKS,
    ZSCORE_MASKS,
    CropSpec,
    InputSpec,
    Intensity,
    IntensityChain,
    IntensityStep,
    ModelCard,
)


def _axis_list(value, where, reader, dims):
    if value is None:
        return None
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        _fail(where, f"expected a list of 2 or 3 values (i, j, k order), got {value!r}", "Write e.g. [2.0, 2.0, 2.0].")
    out = tuple(None if v is None else reader(v, f"{where}[{n}]") for n, v in enumerate(value))
    if len(out) != dims and not (dims == 3 and len(out) == 2):
        _fail(where, f"has {len(out)} values for a {dims}-axis model grid", f"Give {dims} values in i, j, k order.")
    return out


# ---------------------------------------------------------------- sections
def _orientation(value, where):
    if value is None:
        return None
    code = _str(value, where).upper()
    if (
        len(code) != 3
        or any(not any(c in p for p in AXIS_PAIRS) for c in code)
        or any(sum(c in p for c in code) != 1 for p in AXIS_PAIRS)
    ):
        _fail(
            where,
            f"{value!r} is not an orientation code",
            "Use three letters, one of each pair R/L, A/P, S/I, e.g. 'RAS' or 'LPS'.",
        )
    return code


def _intensity(value, where):
    value = _object(value, where, {"type", "min", "max", "mean", "std", "a", "b"}, required=("type",))
    kind = _str(value["type"], f"{where}.type", ("window", "zscore", "scale", "none"))
    allowed = {
        "window": {"type", "min", "max"},
        "zscore": {"type", "mean", "std"},
        "scale": {"type", "a", "b"},
        "none": {"type"},
    }[kind]
    _object(value, where, allowed, required=("min", "max") if kind == "window" else ())
    num = {k: _number(v, f"{where}.{k}", positive=(k == "std")) for k, v in value.items() if k != "type"}
    if kind == "window" and num["max"] <= num["min"]:
        _fail(f"{where}.max", f"window max {num['max']} is not above min {num['min']}", "Set max > min.")
    return Intensity(type=kind, **num)


def _is_step(value):
    return isinstance(value, dict) and len(value) == 1 and "type" not in value


def _step(value, where):
    if not _is_step(value):
        _fail(
            where,
            f'expected one step such as {{"zscore": {{}}}}, got {value!r}',
            f"Write one object with a single key, one of: {', '.join(STEP_FIELDS)}.",
        )
    ((op, args),) = value.items()
    if op not in STEP_FIELDS:
        _fail(f"{where}.{op}", "unknown intensity step", f"Use one of: {', '.join(STEP_FIELDS)}.")
    where = f"{where}.{op}"
    if op == "clip_percentiles" and isinstance(args, list):
        if len(args) != 2:
            _fail(where, f"expected [lower, upper] percentiles, got {args!r}", "Write e.g. [0.5, 99.5].")
        args = {"lower": args[0], "upper": args[1]}
    allowed, required = STEP_FIELDS[op]
    _object(args, where, allowed, required=sorted(required))
    params = {}
    for key, v in args.items():
        if key in ("clip", "relative", "nonzero"):
            if not isinstance(v, bool):
                _fail(f"{where}.{key}", f"expected true or false, got {v!r}", "Write a JSON boolean.")
            params[key] = v
        elif key == "mask":  # zscore: nnU-Net's use_mask_for_norm
            if v not in ZSCORE_MASKS:
                _fail(f"{where}.mask", f"unknown mask {v!r}", f"Use one of: {', '.join(ZSCORE_MASKS)}.")
            params[key] = v
        else:
            params[key] = _number(v, f"{where}.{key}", positive=(key == "std"))
    for lo, hi in (("min", "max"), ("lower", "upper"), ("a_min", "a_max")):
        if lo in params and hi in params and params[hi] <= params[lo] and op != "range":
            _fail(f"{where}.{hi}", f"{params[hi]} is not above {lo} {params[lo]}", f"Set {hi} > {lo}.")
    for key in ("lower", "upper"):
        if key in params and not 0 <= params[key] <= 100:
            _fail(f"{where}.{key}", f"a percentile must be in [0, 100], got {params[key]}", "Use e.g. 0.5 or 99.5.")
    if op == "range" and params["a_max"] == params["a_min"]:
        _fail(f"{where}.a_max", "equals a_min", "Give a non-empty input range.")
    return IntensityStep(op, tuple(sorted(params.items())))


def _chain(value, where):
    return IntensityChain(tuple(_step(v, f"{where}[{n}]") for n, v in enumerate(value)))


def _one_rule(value, where):
    """A legacy {"type": ...} object or a chain (list of steps) -> Intensity | IntensityChain."""
    if isinstance(value, list):
        if not value:
            _fail(where, "empty list of intensity steps", 'Give at least one step, or {"type": "none"}.')
        return _chain(value, where)
    return _intensity(value, where)


def _intensities(value, channels):
    """input.intensity: one rule for all channels (object or chain), or a list of one rule per channel."""
    where = "input.intensity"
    if not isinstance(value, list):
        return (_intensity(value, where),)
    if not value:
        _fail(where, "empty list", "Give one intensity object, or one per channel.")
    if all(_is_step(v) for v in value):  # one chain for every channel
        return (_chain(value, where),)
    if any(_is_step(v) for v in value):
        _fail(
            where,
            "mixes chain steps and per-channel rules",
            "Write a chain as a list of steps, and per-channel rules as a list of objects or of chains.",
        )
    if len(value) not in (1, channels):
        _fail(
            where,
            f"{len(value)} entries for {channels} input channels",
            "Give one entry for all channels, or exactly one per channel.",
        )
    return tuple(_one_rule(v, f"{where}[{n}]") for n, v in enumerate(value))


def _crop(value, where):
    if value is None:
        return None
    _object(value, where, {"select", "threshold", "margin", "on", "source", "allow_smaller"})
    margin = value.get("margin", 0)
    if isinstance(margin, list):
        if len(margin) != 3:
            _fail(
                f"{where}.margin",
                f"expected one integer or 3 (i, j, k), got {margin!r}",
                "Write e.g. 10 or [10, 10, 5].",
            )
        margin = tuple(_int(v, f"{where}.margin[{n}]", minimum=0) for n, v in enumerate(margin))
    else:
        margin = (_int(margin, f"{where}.margin", minimum=0),) * 3
    return CropSpec(
        select=_str(value.get("select", "positive"), f"{where}.select", CROP_SELECT),
        threshold=_number(value.get("threshold", 0.0), f"{where}.threshold"),
        margin=margin,
        on=_str(value.get("on", "model_grid"), f"{where}.on", STAGES),
        source=_str(value.get("source", "raw"), f"{where}.source", CROP_SOURCES),
        allow_smaller=_bool(value.get("allow_smaller", True), f"{where}.allow_smaller"),
    )


def _center(value, where):
    if value == "image" and isinstance(value, str):
        return "image"
    if isinstance(value, dict):
        _object(value, where, {"foreground"}, required=("foreground",))
        return ("foreground", _number(value["foreground"], f"{where}.foreground"))
    _fail(where, f'expected "image" or {{"foreground": T}}, got {value!r}', "Use one of those two forms.")


def _input(value, dims, channels):
    value = _object(
        value,
        "input",
        {
            "orientation",
            "array_order",
            "spacing",
            "size",
            "center",
            "intensity",
            "slice_axis",
            "background",
            "reorient",
            "fit",
            "crop_foreground",
            "intensity_on",
            "interpolation",
            "resampling",
            "transpose",
            "reader",
        },
    )
    grid_dims = 3  # the model grid is 3D; a 2D model sees its slices
    intensities = _intensities(value.get("intensity", {"type": "none"}), channels)
    slice_axis = _str(value.get("slice_axis", "k"), "input.slice_axis", SLICE_AXES)
    spacing = _axis_list(value.get("spacing"), "input.spacing", lambda v, w: _number(v, w, positive=True), grid_dims)
    size = _axis_list(value.get("size"), "input.size", lambda v, w: _int(v, w, minimum=1), grid_dims)
    if dims == 3 and (spacing and len(spacing) == 2 or size and len(size) == 2):
        _fail(
            "input.spacing" if spacing and len(spacing) == 2 else "input.size",
            "has 2 values for a 3D model",
            "Give 3 values in i, j, k order.",
        )
    axis = SLICE_AXES.index(slice_axis)
    spacing = _insert_slice_axis(spacing, axis)
    size = _insert_slice_axis(size, axis)
    background = value.get("background", "min")
    if not (isinstance(background, str) and background in ("min", "edge")):
        background = _number(background, "input.background")
    return InputSpec(
        orientation=_orientation(value.get("orientation"), "input.orientation"),
        array_order=_str(value.get("array_order", "xyz"), "input.array_order", ARRAY_ORDERS),
        spacing=spacing,
        size=size,
        center=_center(value.get("center", "image"), "input.center"),
        intensity=intensities,
        slice_axis=slice_axis,
        background=background,
        reorient=_str(value.get("reorient", "resample"), "input.reorient", REORIENT_MODES),
        fit=_str(value.get("fit", "center"), "input.fit", FIT_MODES),
        crop_foreground=_crop(value.get("crop_foreground"), "input.crop_foreground"),
        intensity_on=_str(value.get("intensity_on", "model_grid"), "input.intensity_on", STAGES),
        interpolation=_str(value.get("interpolation", "linear"), "input.interpolation", INTERPOLATIONS),
        resampling=_str(value.get("resampling", "physical"), "input.resampling", RESAMPLINGS),
        transpose=_transpose(value),
        reader=_str(value.get("reader", "auto"), "input.reader", READERS),
    )


def _transpose(value):
    """nnU-Net's ``transpose_forward`` (a permutation of the array axes), only with its resampling."""
    perm = value.get("transpose", [0, 1, 2])
    if not isinstance(perm, list) or sorted(perm) != [0, 1, 2] or any(isinstance(v, bool) for v in perm):
        _fail(
            "input.transpose",
            f"expected a permutation of [0, 1, 2], got {perm!r}",
            "Copy transpose_forward from nnU-Net's plans.json.",
        )
    if perm != [0, 1, 2] and value.get("resampling", "physical") != "nnunet":
        _fail(
            "input.transpose",
            "permutes the array axes, which only nnU-Net's resampling does",
            'Add "resampling": "nnunet" or remove input.transpose.',
        )
    return tuple(perm)


def _insert_slice_axis(values, axis):
    """2 in-plane values for a 2D model -> 3 (the slice axis takes its default from the volume)."""
    if values is None or len(values) == 3:
        return values
    out = list(values)
    out.insert(axis, None)
    return tuple(out)


def parse_card(data, path=None) -> ModelCard:
    """A card dict (parsed JSON) -> :class:`ModelCard`; raises :class:`CardError` naming the bad field."""
    data = _object(
        data,
        "",
        {
            "name",
            "description",
            "version",
            "task",
            "spatial_dims",
            "in_channels",
            "classes",
            "input",
            "output",
            "inference",
            "target_layer",
            "architecture",
            "weights",
            "localiser",
            "previous_stage",
        },
    )
    dims = _int(data.get("spatial_dims", 3), "spatial_dims", choices=(2, 3))
    channels = _int(data.get("in_channels", 1), "in_channels", minimum=1)
    classes = data.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not classes:
            _fail(
                "classes", f"expected a non-empty list of names, got {classes!r}", 'Write e.g. ["no lesion", "lesion"].'
            )
        classes = tuple(_str(c, f"classes[{n}]") for n, c in enumerate(classes))
    output = _output(data.get("output", {}), dims)
    layer = data.get("target_layer")
    if isinstance(layer, list):
        if not layer:
            _fail("target_layer", "empty list", "Name at least one layer, or leave the field out for the default.")
        layer = tuple(_str(v, f"target_layer[{n}]") for n, v in enumerate(layer))
    elif layer is not None:
        layer = _str(layer, "target_layer")
    for where, name in (
        [("target_layer", layer)]
        if isinstance(layer, str)
        else [(f"target_layer[{n}]", v) for n, v in enumerate(layer or ())]
    ):
        if not name:
            _fail(where, "empty layer name", "Give a module name as listed by `python -m SaliencyExplorerLib layers`.")
    architecture = data.get("architecture")
    if architecture is not None:
        _object(architecture, "architecture", {"class", "kwargs"}, required=("class",))
        if not _str(architecture["class"], "architecture.class"):
            _fail("architecture.class", "empty", "Give a dotted class path or 'file.py:ClassName'.")
        if not isinstance(architecture.get("kwargs", {}), dict):
            _fail("architecture.kwargs", "expected a JSON object", "Write keyword arguments as {...}.")
        architecture = {"class": architecture["class"], "kwargs": dict(architecture.get("kwargs", {}))}
    weights = data.get("weights")
    if weights is not None and not _str(weights, "weights"):
        _fail("weights", "empty", "Give the model file's name relative to the card, or leave the field out.")
    previous = previous_stage(data.get("previous_stage"), path, channels, _nested_card)
    images = channels - (len(previous.labels) if previous is not None else 0)  # the volumes' channels
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        _fail("version", f"expected a string or an integer, got {version!r}", 'Write e.g. "1.0".')
    return ModelCard(
        name=_str(data.get("name", "unnamed model"), "name"),
        description=_str(data.get("description", ""), "description"),
        version=version,
        task=_str(data.get("task", "classification"), "task", TASKS),
        spatial_dims=dims,
        in_channels=channels,
        classes=classes,
        input=_input(data.get("input", {}), dims, images),
        output=output,
        inference=_inference(data.get("inference", {"mode": "whole"}), dims),
        target_layer=layer,
        architecture=architecture,
        weights=weights,
        localiser=localiser(data.get("localiser"), path, _nested_card),
        previous_stage=previous,
        path=None if path is None else str(path),
    )


def _nested_card(value, path) -> ModelCard:
    """A card inside a card (localiser, previous stage): an object read with the outer card's path, or a file."""
    return parse_card(value, path=path) if isinstance(value, dict) else load_card(value)


def load_card(source=None) -> ModelCard:
    """A :class:`ModelCard` from a path, a dict, a ModelCard (returned as is), or None (all defaults)."""
    if source is None:
        return ModelCard()
    if isinstance(source, ModelCard):
        return source
    if isinstance(source, dict):
        return parse_card(source)
    if not isinstance(source, (str, os.PathLike)):
        raise CardError(f"a model card must be a path, a dict or a ModelCard, not {type(source).__name__}")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CardError(f"cannot read model card {path}: {exc.strerror or exc}. Check the path.") from None
    except UnicodeDecodeError:
        raise CardError(f"model card {path} is not UTF-8 text. Save it as a UTF-8 JSON file.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(
            f"model card {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}). Fix the JSON syntax."
        ) from None
    except RecursionError:
        raise CardError(
            f"model card {path} is nested too deeply to read; a card is a few levels deep. Fix the file."
        ) from None
    try:
        return parse_card(data, path=path)
    except CardError as exc:
        raise CardError(f"{path}: {exc}") from None


def find_card_for(model_path) -> Path | None:
    """The card beside a model file: ``model.json`` next to ``model.pt`` (same stem), if it exists."""
    path = Path(model_path)
    candidate = path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")
    return candidate if candidate.is_file() and candidate != path else None
