"""The model card: what a model expects as input and gives as output (JSON; schema in ``card_schema.json``).

Why: a heatmap can only be mapped back onto the anatomy if we know the grid the model saw: its
orientation, spacing, size, centre, tensor axis order and intensity scaling. The card says all of it, once,
next to the model file. Parsing is hand-written (no runtime dependency) and strict: an unknown field or a
wrong type raises :class:`CardError` naming the field (``input.spacing[1]``) and the fix. Every field has a
default, documented in ``docs/model-card.md``.

    card = load_card("model.json")       # or a dict, or a ModelCard, or None (all defaults)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CardError

TASKS = ("classification", "segmentation")
ARRAY_ORDERS = ("xyz", "zyx")
ACTIVATIONS = ("auto", "softmax", "sigmoid", "none")
SLICE_AXES = ("i", "j", "k")
AXIS_PAIRS = ({"R", "L"}, {"A", "P"}, {"S", "I"})
INFERENCE_MODES = ("whole", "sliding_window")
BLEND_MODES = ("constant", "gaussian")
PADDING_MODES = ("constant", "reflect", "replicate", "circular")
SCHEMA_PATH = Path(__file__).with_name("card_schema.json")
PROBE_SIZE = 64  # voxels per axis the card leaves open, when a layer table or a check needs a concrete input


@dataclass(frozen=True)
class Intensity:
    """How raw voxel values become model input: window (to [0, 1], clipped), zscore, scale (a*x+b), none."""

    type: str = "none"
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    a: float = 1.0
    b: float = 0.0


@dataclass(frozen=True)
class InputSpec:
    """The model grid. ``None`` in spacing/size (or per axis) means "take it from the volume"."""

    orientation: str | None = None
    array_order: str = "xyz"
    spacing: tuple | None = None
    size: tuple | None = None
    center: object = "image"  # "image" or ("foreground", threshold)
    intensity: tuple = (Intensity(),)  # one per channel, or one for all
    slice_axis: str = "k"
    background: object = "min"  # "min" (the volume's minimum) or a number, in raw units


@dataclass(frozen=True)
class OutputSpec:
    r"""What the model's output means: its activation (``auto``, softmax, sigmoid, none) and, for a
    tuple/dict output, which element is explained (``key``)."""

    activation: str = "auto"
    key: object = None


@dataclass(frozen=True)
class InferenceSpec:
    """How the model runs on a whole grid, in MONAI's terms (``monai.inferers.sliding_window_inference``).

    "whole": one pass on the model grid. "sliding_window": the grid is padded to at least one window,
    tiled by ``roi_size`` windows (tensor axis order) overlapping by ``overlap``, and the windows' outputs
    are averaged with a ``blend`` importance map; explanations then explain that blended output.
    """

    mode: str = "whole"
    roi_size: tuple | None = None
    overlap: tuple = (0.25,)  # one value for every axis, or one per axis
    blend: str = "constant"
    sigma_scale: tuple = (0.125,)
    padding_mode: str = "constant"
    cval: float = 0.0
    sw_batch_size: int = 1

    @property
    def sliding(self) -> bool:
        return self.mode == "sliding_window"


@dataclass(frozen=True)
class ModelCard:
    r"""How a model sees a volume, parsed strictly from JSON (``parse_card``/``load_card``): task, spatial dims,
    channels, classes, the input grid (``input``), the output's meaning (``output``), the default target
    layer and, for state dicts, the architecture. Immutable; ``path`` is where it was read from."""

    name: str = "unnamed model"
    description: str = ""
    version: object = None
    task: str = "classification"
    spatial_dims: int = 3
    in_channels: int = 1
    classes: tuple | None = None
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    target_layer: object = None  # None, a name, or a tuple of names
    architecture: dict | None = None
    weights: str | None = None
    path: str | None = None  # where the card was read from (for relative architecture files)

    def class_index(self, target) -> int:
        """A class given as an index or a name (case-insensitive) -> its index."""
        if isinstance(target, int) and not isinstance(target, bool):
            return target
        text = str(target).strip()
        if text.lstrip("-").isdigit():
            return int(text)
        names = [c.lower() for c in (self.classes or ())]
        if text.lower() in names:
            return names.index(text.lower())
        known = ", ".join(repr(c) for c in self.classes or ()) or "none (the card lists no classes)"
        raise CardError(f"target {target!r} is neither a class index nor a class name; known classes: {known}")

    def input_shape(self, default: int | None = PROBE_SIZE) -> tuple[int, ...] | None:
        """``(1, C, *spatial)`` the card promises the model, in its tensor (``array_order``) order.

        Axes the card leaves open get ``default`` voxels; ``default=None`` returns None instead (the card
        promises no size, so there is nothing to check the model against).
        """
        given = list(self.input.size or (None,) * 3)
        if self.spatial_dims == 2 and len(given) == 3:
            del given[SLICE_AXES.index(self.input.slice_axis)]
        if default is None and any(n is None for n in given):
            return None
        spatial = [default if n is None else int(n) for n in given]
        if self.input.array_order == "zyx":
            spatial = spatial[::-1]
        return (1, self.in_channels, *spatial)

    def class_name(self, index) -> str | None:
        if self.classes and index is not None and 0 <= index < len(self.classes):
            return self.classes[index]
        return None


# ---------------------------------------------------------------- small typed readers, naming the field
def _fail(where, problem, fix):
    raise CardError(f"model card field '{where}': {problem}. {fix}")


def _str(value, where, choices=None):
    if not isinstance(value, str):
        _fail(where, f"expected a string, got {type(value).__name__} {value!r}", "Write it as a JSON string.")
    if choices is not None and value not in choices:
        _fail(where, f"{value!r} is not one of {', '.join(map(repr, choices))}", "Use one of the allowed values.")
    return value


def _number(value, where, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"expected a finite number, got {value!r}", "Write a JSON number such as 1.5.")
    if positive and value <= 0:
        _fail(where, f"must be > 0, got {value!r}", "Use a positive number.")
    return float(value)


def _int(value, where, minimum=None, choices=None):
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"expected an integer, got {value!r}", "Write a whole JSON number such as 64.")
    if minimum is not None and value < minimum:
        _fail(where, f"must be >= {minimum}, got {value}", f"Use an integer of at least {minimum}.")
    if choices is not None and value not in choices:
        _fail(where, f"{value} is not one of {choices}", "Use one of the allowed values.")
    return value


def _object(value, where, allowed, required=()):
    if not isinstance(value, dict):
        _fail(where, f"expected a JSON object, got {type(value).__name__}", "Write it as {...}.")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            _fail(f"{where}.{key}" if where else str(key), "unknown field",
                  f"Remove it, or use one of: {', '.join(sorted(allowed))}.")
    for key in required:
        if key not in value:
            _fail(f"{where}.{key}" if where else key, "missing", "Add it (see docs/model-card.md).")
    return value


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
    if len(code) != 3 or any(not any(c in p for p in AXIS_PAIRS) for c in code) or any(
        sum(c in p for c in code) != 1 for p in AXIS_PAIRS
    ):
        _fail(where, f"{value!r} is not an orientation code", "Use three letters, one of each pair R/L, A/P, S/I, e.g. 'RAS' or 'LPS'.")
    return code


def _intensity(value, where):
    value = _object(value, where, {"type", "min", "max", "mean", "std", "a", "b"}, required=("type",))
    kind = _str(value["type"], f"{where}.type", ("window", "zscore", "scale", "none"))
    allowed = {"window": {"type", "min", "max"}, "zscore": {"type", "mean", "std"},
               "scale": {"type", "a", "b"}, "none": {"type"}}[kind]
    _object(value, where, allowed, required=("min", "max") if kind == "window" else ())
    num = {k: _number(v, f"{where}.{k}", positive=(k == "std")) for k, v in value.items() if k != "type"}
    if kind == "window" and num["max"] <= num["min"]:
        _fail(f"{where}.max", f"window max {num['max']} is not above min {num['min']}", "Set max > min.")
    return Intensity(type=kind, **num)


def _center(value, where):
    if value == "image" and isinstance(value, str):
        return "image"
    if isinstance(value, dict):
        _object(value, where, {"foreground"}, required=("foreground",))
        return ("foreground", _number(value["foreground"], f"{where}.foreground"))
    _fail(where, f"expected \"image\" or {{\"foreground\": T}}, got {value!r}", "Use one of those two forms.")


def _input(value, dims, channels):
    value = _object(value, "input", {"orientation", "array_order", "spacing", "size", "center", "intensity",
                                     "slice_axis", "background"})
    grid_dims = 3  # the model grid is 3D; a 2D model sees its slices
    intensity = value.get("intensity", {"type": "none"})
    if isinstance(intensity, list):
        if not intensity:
            _fail("input.intensity", "empty list", "Give one intensity object, or one per channel.")
        if len(intensity) not in (1, channels):
            _fail("input.intensity", f"{len(intensity)} entries for {channels} input channels",
                  "Give one entry for all channels, or exactly one per channel.")
        intensities = tuple(_intensity(v, f"input.intensity[{n}]") for n, v in enumerate(intensity))
    else:
        intensities = (_intensity(intensity, "input.intensity"),)
    slice_axis = _str(value.get("slice_axis", "k"), "input.slice_axis", SLICE_AXES)
    spacing = _axis_list(value.get("spacing"), "input.spacing", lambda v, w: _number(v, w, positive=True), grid_dims)
    size = _axis_list(value.get("size"), "input.size", lambda v, w: _int(v, w, minimum=1), grid_dims)
    if dims == 3 and (spacing and len(spacing) == 2 or size and len(size) == 2):
        _fail("input.spacing" if spacing and len(spacing) == 2 else "input.size",
              "has 2 values for a 3D model", "Give 3 values in i, j, k order.")
    axis = SLICE_AXES.index(slice_axis)
    spacing = _insert_slice_axis(spacing, axis)
    size = _insert_slice_axis(size, axis)
    background = value.get("background", "min")
    if background != "min" or not isinstance(background, str):
        background = _number(background, "input.background")
    return InputSpec(
        orientation=_orientation(value.get("orientation"), "input.orientation"),
        array_order=_str(value.get("array_order", "xyz"), "input.array_order", ARRAY_ORDERS),
        spacing=spacing, size=size,
        center=_center(value.get("center", "image"), "input.center"),
        intensity=intensities, slice_axis=slice_axis, background=background,
    )


def _per_axis_numbers(value, where, dims, check):
    """A number for every axis, or a list of one per axis (MONAI accepts both) -> a tuple."""
    if isinstance(value, list):
        if len(value) != dims:
            _fail(where, f"has {len(value)} values for a {dims}-axis model", f"Give one number, or {dims} numbers.")
        return tuple(check(v, f"{where}[{n}]") for n, v in enumerate(value))
    return (check(value, where),)


def _overlap(value, where):
    number = _number(value, where)
    if not 0 <= number < 1:
        _fail(where, f"must be in [0, 1), got {value!r}", "Use a fraction of the window such as 0.25 or 0.5.")
    return number


def _inference(value, dims):
    value = _object(value, "inference", {"mode", "roi_size", "overlap", "blend", "sigma_scale", "padding_mode",
                                         "cval", "sw_batch_size"}, required=("mode",))
    mode = _str(value["mode"], "inference.mode", INFERENCE_MODES)
    if mode == "whole":
        _object(value, "inference", {"mode"})
        return InferenceSpec()
    if "roi_size" not in value:
        _fail("inference.roi_size", "missing", "Give the window size in the model tensor's axis order, e.g. [96, 96, 96].")
    roi = value["roi_size"]
    if not isinstance(roi, list) or len(roi) != dims:
        _fail("inference.roi_size", f"expected a list of {dims} window sizes (one per spatial axis), got {roi!r}",
              f"Write {dims} positive integers in the model tensor's axis order, e.g. {[96] * dims}.")
    roi = tuple(_int(v, f"inference.roi_size[{n}]", minimum=1) for n, v in enumerate(roi))
    return InferenceSpec(
        mode=mode, roi_size=roi,
        overlap=_per_axis_numbers(value.get("overlap", 0.25), "inference.overlap", dims, _overlap),
        blend=_str(value.get("blend", "constant"), "inference.blend", BLEND_MODES),
        sigma_scale=_per_axis_numbers(value.get("sigma_scale", 0.125), "inference.sigma_scale", dims,
                                      lambda v, w: _number(v, w, positive=True)),
        padding_mode=_str(value.get("padding_mode", "constant"), "inference.padding_mode", PADDING_MODES),
        cval=_number(value.get("cval", 0.0), "inference.cval"),
        sw_batch_size=_int(value.get("sw_batch_size", 1), "inference.sw_batch_size", minimum=1),
    )


def _insert_slice_axis(values, axis):
    """2 in-plane values for a 2D model -> 3 (the slice axis takes its default from the volume)."""
    if values is None or len(values) == 3:
        return values
    out = list(values)
    out.insert(axis, None)
    return tuple(out)


def parse_card(data, path=None) -> ModelCard:
    """A card dict (parsed JSON) -> :class:`ModelCard`; raises :class:`CardError` naming the bad field."""
    data = _object(data, "", {"name", "description", "version", "task", "spatial_dims", "in_channels",
                              "classes", "input", "output", "inference", "target_layer", "architecture",
                              "weights"})
    dims = _int(data.get("spatial_dims", 3), "spatial_dims", choices=(2, 3))
    channels = _int(data.get("in_channels", 1), "in_channels", minimum=1)
    classes = data.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not classes:
            _fail("classes", f"expected a non-empty list of names, got {classes!r}", 'Write e.g. ["no lesion", "lesion"].')
        classes = tuple(_str(c, f"classes[{n}]") for n, c in enumerate(classes))
    output = _object(data.get("output", {}), "output", {"activation", "key"})
    key = output.get("key")
    if key is not None and (isinstance(key, bool) or not isinstance(key, (str, int))):
        _fail("output.key", f"expected a string, an integer or null, got {key!r}", "Name the output element.")
    layer = data.get("target_layer")
    if isinstance(layer, list):
        if not layer:
            _fail("target_layer", "empty list", "Name at least one layer, or leave the field out for the default.")
        layer = tuple(_str(v, f"target_layer[{n}]") for n, v in enumerate(layer))
    elif layer is not None:
        layer = _str(layer, "target_layer")
    for where, name in ([("target_layer", layer)] if isinstance(layer, str) else
                        [(f"target_layer[{n}]", v) for n, v in enumerate(layer or ())]):
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
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        _fail("version", f"expected a string or an integer, got {version!r}", "Write e.g. \"1.0\".")
    return ModelCard(
        name=_str(data.get("name", "unnamed model"), "name"),
        description=_str(data.get("description", ""), "description"),
        version=version,
        task=_str(data.get("task", "classification"), "task", TASKS),
        spatial_dims=dims, in_channels=channels, classes=classes,
        input=_input(data.get("input", {}), dims, channels),
        output=OutputSpec(activation=_str(output.get("activation", "auto"), "output.activation", ACTIVATIONS), key=key),
        inference=_inference(data.get("inference", {"mode": "whole"}), dims),
        target_layer=layer, architecture=architecture, weights=weights,
        path=None if path is None else str(path),
    )


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
        raise CardError(f"model card {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}). Fix the JSON syntax.") from None
    try:
        return parse_card(data, path=path)
    except CardError as exc:
        raise CardError(f"{path}: {exc}") from None


def find_card_for(model_path) -> Path | None:
    """The card beside a model file: ``model.json`` next to ``model.pt`` (same stem), if it exists."""
    path = Path(model_path)
    candidate = path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")
    return candidate if candidate.is_file() and candidate != path else None


def card_to_dict(card: ModelCard) -> dict:
    """A ModelCard back as card JSON (``parse_card(card_to_dict(c))`` equals ``c`` but for ``path``).

    Why: the background worker gets its card as JSON in the job folder, also when the caller gave a
    ModelCard object rather than a file.
    """
    spec = card.input

    def axes(values):
        return None if values is None else list(values)

    def intensity(item: Intensity) -> dict:
        keys = {"window": ("min", "max"), "zscore": ("mean", "std"), "scale": ("a", "b"), "none": ()}[item.type]
        return {"type": item.type, **{k: getattr(item, k) for k in keys if getattr(item, k) is not None}}

    data = {
        "name": card.name, "description": card.description, "task": card.task,
        "spatial_dims": card.spatial_dims, "in_channels": card.in_channels,
        "input": {"array_order": spec.array_order, "slice_axis": spec.slice_axis,
                  "center": "image" if spec.center == "image" else {"foreground": spec.center[1]},
                  "intensity": [intensity(i) for i in spec.intensity], "background": spec.background},
        "output": {"activation": card.output.activation, "key": card.output.key},
    }
    for key, value in (("orientation", spec.orientation), ("spacing", axes(spec.spacing)), ("size", axes(spec.size))):
        if value is not None:
            data["input"][key] = value
    if card.version is not None:
        data["version"] = card.version
    if card.classes is not None:
        data["classes"] = list(card.classes)
    if card.target_layer is not None:
        data["target_layer"] = card.target_layer if isinstance(card.target_layer, str) else list(card.target_layer)
    if card.architecture is not None:
        data["architecture"] = {"class": card.architecture["class"], "kwargs": dict(card.architecture.get("kwargs", {}))}
    if card.weights is not None:
        data["weights"] = card.weights
    return data
