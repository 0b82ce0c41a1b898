"""The model card a MONAI bundle's inference config implies: its preprocessing transforms mapped to card
fields (the table in monai_bundle.py's docstring), its inferer, its postprocessing as the card's ``output``.

Why apart: reading transforms is plain data (the config is never executed), apart from building the
network (bundle_network.py), which needs MONAI.
"""

from __future__ import annotations

from pathlib import Path

from ..card import ModelCard, parse_card
from ..errors import ModelLoadError
from .bundle_config import Resolver as _Resolver
from .bundle_config import fail as _fail

IGNORED = {
    "LoadImage",
    "EnsureChannelFirst",
    "AddChannel",
    "EnsureType",
    "ToTensor",
    "CastToType",
    "Identity",
    "ToDevice",
    "ToNumpy",
    "SqueezeDim",
    "DeleteItems",
    "SelectItems",
    "CopyItems",
    "ConcatItems",
}
INTENSITY = {
    "ScaleIntensityRange",
    "ScaleIntensityRangePercentiles",
    "NormalizeIntensity",
    "ScaleIntensity",
    "ClipIntensityPercentiles",
}
GRID = {"Orientation", "Spacing", "Resize"}
POSTPROCESSING = {"Activations", "Invert", "AsDiscrete", "GaussianSmooth", "KeepLargestConnectedComponent"}
LABEL_NEUTRAL = IGNORED | {"SaveImage", "SaveImaged", "Compose", "EnsureTyped", "ToTensord", "ToNumpyd", "ToDeviced"}
INTERP = {
    "bilinear": "linear",
    "trilinear": "linear",
    "linear": "linear",
    "nearest": "nearest",
    "nearest-exact": "nearest",
    1: "linear",
    0: "nearest",
    "bicubic": "bspline",
    3: "bspline",
}


def _target_name(node) -> str:
    target = node.get("_target_", "") if isinstance(node, dict) else ""
    name = str(target).rsplit(".", 1)[-1]
    return name[:-1] if name.endswith("d") and name[:-1] in IGNORED | INTENSITY | GRID | {"CropForeground"} else name


def _transforms(config, resolver, path):
    node = config.get("preprocessing")
    if node is None:
        _fail(path, "preprocessing", "is missing", "A bundle's inference config names its preprocessing transforms.")
    if isinstance(node, str) and node.startswith("@"):
        node = resolver.lookup(node[1:], "preprocessing")
    if isinstance(node, dict) and "transforms" in node:
        items, base = node["transforms"], "preprocessing.transforms"
    elif isinstance(node, list):
        items, base = node, "preprocessing"
    else:
        _fail(path, "preprocessing", "is neither a Compose with 'transforms' nor a list of transforms")
    if isinstance(items, str) and items.startswith("@"):
        items = resolver.lookup(items[1:], base)
    if not isinstance(items, list):
        _fail(path, base, "is not a list of transforms")
    out = []
    for n, item in enumerate(items):
        if isinstance(item, str) and item.startswith("@"):
            item = resolver.lookup(item[1:], f"{base}[{n}]")
        if not isinstance(item, dict) or "_target_" not in item:
            _fail(path, f"{base}[{n}]", f"is {item!r}, not a transform with a _target_")
        out.append((f"{base}[{n}]", item))
    return out


def _args(resolver, item, where, names):
    return {k: resolver.value(item[k], f"{where}.{k}") for k in names if k in item}


def _as_written(resolver, item, where) -> dict:
    """Spacingd's align_corners and dtype, resolved where plain, else as written (``"$np.float32"`` is read,
    not run: these only decide a note)."""
    out = {}
    for key in ("align_corners", "dtype"):
        if key in item:
            try:
                out[key] = resolver.value(item[key], f"{where}.{key}")
            except ModelLoadError:
                out[key] = item[key]
    return out


def _reader(value, where, notes) -> str:
    """LoadImaged's ``reader`` as the card's ``input.reader``: ITKReader -> "itk" (ITK's affine places MONAI's
    grid); NibabelReader / NrrdReader (LoadImage's own picks for NIfTI / NRRD) -> "auto". Read as text, never
    run; another reader is noted (the card takes LoadImage's default pick's affine)."""
    name = value.get("_target_", "") if isinstance(value, dict) else value
    text = str(name).lower()
    if "itkreader" in text:
        return "itk"
    if value is not None and "nibabelreader" not in text and "nrrdreader" not in text:
        notes.append(f"{where}: reader {name!r}; the card places MONAI's grid by LoadImage's default reader's affine")
    return "auto"


def _spacing_notes(mode, args, where) -> list:
    """Where the card's input is MONAI's Spacingd only to interpolation accuracy, not to the bit (its defaults,
    torch's grid_sample in float64 with align_corners=False, are what volumes/monai_resampling.py repeats)."""
    notes = []
    if isinstance(mode, int):
        notes.append(
            f"{where}: Spacingd mode {mode} is MONAI's scipy path; the card's values agree with it only approximately"
        )
    corners = args.get("align_corners")
    if corners is True or (isinstance(corners, str) and "true" in corners.lower()):
        notes.append(
            f"{where}: Spacingd align_corners=true; the card resamples with false (the same points, other last bits)"
        )
    if "dtype" in args and "64" not in str(args["dtype"]):
        notes.append(f"{where}: Spacingd dtype {args['dtype']}; the card resamples in float64 (other last bits)")
    return notes


def derive_card(config: dict, metadata: dict, path: Path, notes: list | None = None) -> ModelCard:
    """The model card a bundle's inference config implies (see the table in monai_bundle.py's docstring)."""
    notes = [] if notes is None else notes
    resolver = _Resolver(config, path)
    spec: dict = {"array_order": "xyz"}
    steps, unknown = [], []
    resampled = False  # a grid transform came before
    intensity_stage = None
    for where, item in _transforms(config, resolver, path):
        name = _target_name(item)
        if name == "LoadImage" and "reader" in item:
            spec["reader"] = _reader(item["reader"], f"{where}.reader", notes)
        if name in IGNORED:
            continue
        if name == "Orientation":
            codes = resolver.value(item.get("axcodes"), f"{where}.axcodes")
            if not isinstance(codes, str) or len(codes) != 3:
                _fail(path, f"{where}.axcodes", f"is {codes!r}, not a 3-letter code")
            spec.update(orientation=codes.upper(), reorient="axes")
        elif name == "Spacing":
            args = _args(resolver, item, where, ("pixdim", "mode", "diagonal", "scale_extent", "padding_mode"))
            pixdim = args.get("pixdim")
            pixdim = [pixdim] * 3 if isinstance(pixdim, (int, float)) else pixdim
            if not isinstance(pixdim, list) or not pixdim or len(pixdim) > 3:
                _fail(path, f"{where}.pixdim", f"is {pixdim!r}, not 1 to 3 spacings")
            pixdim = list(pixdim) + [pixdim[-1]] * (3 - len(pixdim))  # MONAI pads with the last value
            spec["spacing"] = [None if (p is None or p <= 0) else float(p) for p in pixdim]
            if args.get("diagonal") or args.get("scale_extent"):
                _fail(
                    path,
                    f"{where}.diagonal" if args.get("diagonal") else f"{where}.scale_extent",
                    "is true, a grid the card cannot describe yet",
                    "Only diagonal=false, scale_extent=false.",
                )
            spec.update(fit="first_voxel", interpolation=_interp(args.get("mode", "bilinear"), where, path))
            padding = args.get("padding_mode", "border")
            if padding not in ("border", "zeros"):
                _fail(path, f"{where}.padding_mode", f"is {padding!r}", "Supported: 'border', 'zeros'.")
            spec["background"] = "edge" if padding == "border" else 0.0
            notes.extend(_spacing_notes(args.get("mode", "bilinear"), _as_written(resolver, item, where), where))
            resampled = True
        elif name == "Resize":
            args = _args(resolver, item, where, ("spatial_size", "mode", "size_mode"))
            size = args.get("spatial_size")
            size = [size] * 3 if isinstance(size, int) else size
            if args.get("size_mode", "all") != "all" or not isinstance(size, list) or len(size) != 3:
                _fail(
                    path,
                    f"{where}.spatial_size",
                    f"is {size!r} (size_mode {args.get('size_mode', 'all')!r})",
                    "Only 3 sizes with size_mode 'all' are supported.",
                )
            spec["size"] = [None if s is None or s <= 0 else int(s) for s in size]
            mode = args.get("mode", "area")
            if mode == "area":
                notes.append(f"{where}: Resized mode 'area' averages when shrinking; the card interpolates linearly")
                mode = "trilinear"
            spec.update(fit="extent", interpolation=_interp(mode, where, path))
            resampled = True
        elif name == "CropForeground":
            args = _args(
                resolver, item, where, ("select_fn", "margin", "k_divisible", "allow_smaller", "channel_indices")
            )
            if "select_fn" in item:
                _fail(path, f"{where}.select_fn", "is set; only MONAI's default (value > 0) is supported")
            if args.get("k_divisible", 1) not in (1, [1, 1, 1]):
                _fail(path, f"{where}.k_divisible", f"is {args['k_divisible']!r}; only 1 is supported")
            spec["crop_foreground"] = {
                "select": "positive",
                "threshold": 0.0,
                "margin": args.get("margin", 0),
                "on": "model_grid" if resampled else "native",
                "source": "normalised" if steps else "raw",
                "allow_smaller": bool(args.get("allow_smaller", False)),
            }  # MONAI's default
        elif name in INTENSITY:
            stage = "model_grid" if resampled else "native"
            if intensity_stage not in (None, stage):
                _fail(
                    path,
                    where,
                    "scales intensities after a grid transform while another did so before it",
                    "The card applies all intensity steps on one grid.",
                )
            intensity_stage = stage
            steps.append(_intensity_step(name, item, resolver, where, path))
        else:
            unknown.append(f"{item.get('_target_')} ({where})")
    if unknown:
        raise ModelLoadError(
            f"{path}: the preprocessing has transforms with no card equivalent: {', '.join(unknown)}. "
            "Supported: Orientationd, Spacingd, Resized, CropForegroundd, ScaleIntensityRanged, "
            "ScaleIntensityRangePercentilesd, NormalizeIntensityd, ScaleIntensityd, "
            "ClipIntensityPercentilesd (loading and type transforms are ignored); or write a card (--card)."
        )
    if steps:
        spec["intensity"] = steps
        if intensity_stage == "native":
            spec["intensity_on"] = "native"
    if (
        "crop_foreground" in spec
        and spec["crop_foreground"]["source"] == "normalised"
        and spec["crop_foreground"]["on"] != (intensity_stage or "model_grid")
    ):
        spec["crop_foreground"]["source"] = "raw"
    spec.setdefault("background", 0.0)
    net = config.get("network_def")
    net = resolver.value(net, "network_def") if net is not None else None
    if not isinstance(net, dict):
        _fail(path, "network_def", "is missing", "A bundle's inference config defines its network as network_def.")
    dims = net.get("spatial_dims", net.get("dimensions", 3))
    channels = net.get("in_channels", 1)
    card = {
        "name": str(metadata.get("name") or path.parent.parent.name),
        "task": "segmentation",
        "description": str(metadata.get("description", ""))[:500],
        "spatial_dims": dims if dims in (2, 3) else 3,
        "in_channels": channels if isinstance(channels, int) else 1,
        "input": spec,
        "output": _output(config, resolver, path, notes),
        "inference": _inferer(config, resolver, path),
    }
    outputs = (metadata.get("network_data_format") or {}).get("outputs") or {}
    pred = next(iter(outputs.values()), {}) if isinstance(outputs, dict) else {}
    channel_def = pred.get("channel_def") if isinstance(pred, dict) else None
    if isinstance(channel_def, dict) and channel_def:
        try:
            card["classes"] = [str(v) for _, v in sorted(channel_def.items(), key=lambda kv: int(kv[0]))]
        except ValueError:
            pass
    if isinstance(pred, dict) and pred.get("type") not in (None, "image"):
        card["task"] = "classification"
    if metadata.get("version") is not None:
        card["version"] = str(metadata["version"])
    return parse_card(card)


def _interp(mode, where, path):
    if mode not in INTERP:
        _fail(path, f"{where}.mode", f"is {mode!r}", f"Supported: {', '.join(map(str, INTERP))}.")
    return INTERP[mode]


def _intensity_step(name, item, resolver, where, path):
    if name == "ScaleIntensityRange":
        a = _args(resolver, item, where, ("a_min", "a_max", "b_min", "b_max", "clip"))
        return {"range": {k: v for k, v in a.items() if v is not None}}
    if name == "ScaleIntensityRangePercentiles":
        a = _args(resolver, item, where, ("lower", "upper", "b_min", "b_max", "clip", "relative", "channel_wise"))
        a.pop("channel_wise", None)
        return {"range_percentiles": {k: v for k, v in a.items() if v is not None}}
    if name == "ScaleIntensity":
        a = _args(resolver, item, where, ("minv", "maxv", "factor"))
        if a.get("factor") is not None:
            return {"scale": {"a": 1.0 + float(a["factor"]), "b": 0.0}}
        return {
            "range_percentiles": {"lower": 0, "upper": 100, "b_min": a.get("minv", 0.0), "b_max": a.get("maxv", 1.0)}
        }
    if name == "ClipIntensityPercentiles":
        a = _args(resolver, item, where, ("lower", "upper", "sharpness_factor"))
        if a.get("sharpness_factor") is not None or a.get("lower") is None or a.get("upper") is None:
            _fail(path, where, "uses soft or one-sided clipping", "Only hard clipping with lower and upper.")
        return {"clip_percentiles": [a["lower"], a["upper"]]}
    a = _args(resolver, item, where, ("subtrahend", "divisor", "nonzero", "channel_wise"))
    step = {"nonzero": True} if a.get("nonzero") is True else {}
    if isinstance(a.get("subtrahend"), (int, float)):
        step["mean"] = a["subtrahend"]
    if isinstance(a.get("divisor"), (int, float)):
        step["std"] = a["divisor"]
    return {"zscore": step}


def _output(config, resolver, path, notes):
    """The card's ``output`` from the bundle's ``postprocessing``: Activationsd (activation), Invertd
    (``nearest_interp=False``: scores back linearly; True, MONAI's default: labels back by nearest), AsDiscreted (threshold), GaussianSmoothd (smooth),
    KeepLargestConnectedComponentd; saving, copying and type transforms do not change the labels; any other
    transform is named in ``notes`` (the prediction is made without it)."""
    post = config.get("postprocessing")
    items = post.get("transforms", []) if isinstance(post, dict) else post if isinstance(post, list) else []
    out, activated = {"activation": "auto"}, False
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        where = f"postprocessing.transforms[{n}]"
        name = str(item.get("_target_", "")).rsplit(".", 1)[-1]
        name = name[:-1] if name.endswith("d") and name[:-1] in POSTPROCESSING else name
        if name == "Activations":
            args = _args(resolver, item, where, ("softmax", "sigmoid"))
            if args.get("softmax") is True or args.get("sigmoid") is True:
                out["activation"], activated = ("softmax" if args.get("softmax") is True else "sigmoid"), True
        elif name == "Invert":  # MONAI's default nearest_interp=True: the argmax of scores brought back by nearest
            nearest = _args(resolver, item, where, ("nearest_interp",)).get("nearest_interp", True) is not False
            out["resample"] = "labels" if nearest else "probabilities" if activated else "logits"
        elif name == "AsDiscrete":
            threshold = _args(resolver, item, where, ("threshold",)).get("threshold")
            if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
                if not activated or not 0 < threshold < 1:
                    _fail(
                        path,
                        f"{where}.threshold",
                        f"is {threshold!r} on {'logits' if not activated else 'values'}",
                        "The card thresholds probabilities in (0, 1): put Activationsd(sigmoid=True) first.",
                    )
                out["threshold"] = float(threshold)
        elif name == "GaussianSmooth":
            args = _args(resolver, item, where, ("sigma", "approx"))
            if args.get("approx", "erf") not in ("erf", "sampled"):
                _fail(path, f"{where}.approx", f"is {args['approx']!r}", "Supported: 'erf', 'sampled'.")
            if activated:
                _fail(path, where, "smooths probabilities", "The card smooths the logits, before Activationsd.")
            if args.get("approx") == "sampled":
                notes.append(f"{where}: MONAI's 'sampled' kernel is not renormalised; the card's is (scipy's)")
            out["smooth"] = {"sigma": args.get("sigma", 1.0), "kernel": args.get("approx", "erf"), "edges": "zeros"}
        elif name == "KeepLargestConnectedComponent":
            args = _args(resolver, item, where, ("applied_labels", "connectivity", "independent", "num_components"))
            changed = [
                k
                for k, v in args.items()
                if v is not None and not (k == "independent" and v is True) and not (k == "num_components" and v == 1)
            ]
            if changed:
                notes.append(
                    f"{where}: {', '.join(changed)} given; the card keeps every class's largest "
                    "component with full connectivity"
                )
            out["largest_component"] = True
        elif name not in LABEL_NEUTRAL and name.removesuffix("d") not in LABEL_NEUTRAL:
            notes.append(  # e.g. FillHolesd, RemoveSmallObjectsd, LabelFilterd, Lambdad: said, never dropped silently
                f"{where}: {item.get('_target_')} changes the bundle's labels in a way the card cannot say; "
                "--prediction-output (and the region explained) is the prediction without it"
            )
    return out


def _inferer(config, resolver, path):
    node = config.get("inferer")
    if node is None:
        return {"mode": "whole"}
    node = resolver.value(node, "inferer")
    name = str(node.get("_target_", "")).rsplit(".", 1)[-1] if isinstance(node, dict) else ""
    if name == "SimpleInferer":
        return {"mode": "whole"}
    if name != "SlidingWindowInferer":
        _fail(
            path,
            "inferer",
            f"is {node.get('_target_') if isinstance(node, dict) else node!r}",
            "Supported: SimpleInferer, SlidingWindowInferer.",
        )
    # the card's MONAI form takes SlidingWindowInferer's arguments as they are (the card checks them)
    return {"sliding_window": {k: v for k, v in node.items() if k != "_target_"}}
