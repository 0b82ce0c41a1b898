"""MONAI bundles as models: the network from ``network_def``, the weights from ``models/``, and a model card
derived from ``configs/inference.json`` (its ``preprocessing`` transforms and its ``inferer``).

Why: a bundle already says how its network sees a scan, as a list of transforms. Those that place the
grid or scale intensities have card equivalents, each still one resampling through physical space:

=====================================  =============================================================
``Orientationd(axcodes)``              ``orientation`` + ``reorient: "axes"`` (permute/flip, no rotation)
``Spacingd(pixdim)``                   ``spacing`` + ``fit: "first_voxel"`` (MONAI's grid, as MONAI computes it)
``Resized(spatial_size)``              ``size`` + ``fit: "extent"`` (spacing = extent / size)
``CropForegroundd``                    ``crop_foreground`` (on the grid it follows; margin, allow_smaller)
``ScaleIntensityRanged``               intensity step ``range``
``ScaleIntensityRangePercentilesd``    intensity step ``range_percentiles``
``NormalizeIntensityd``                intensity step ``zscore`` (``nonzero``)
``ScaleIntensityd``                    intensity step ``range_percentiles`` 0..100
``ClipIntensityPercentilesd``          intensity step ``clip_percentiles``
``SlidingWindowInferer``/``SimpleInferer``  ``inference``
postprocessing: ``Activationsd``,      ``output``: activation, resample, threshold, smooth,
``Invertd``, ``AsDiscreted``,          largest_component (how ``--prediction-output`` is made)
``GaussianSmoothd``, ``KeepLargest...``
=====================================  =============================================================

Loading, channel and type transforms are ignored (they do not change the grid or the values). Anything
else is listed by name in one error. The config is read as JSON, never executed: ``@name`` references are
resolved here; a ``$`` expression where a value is needed is refused; YAML aliases are refused (an alias
bomb). The network is built only when its ``_target_`` is a network class of ``monai.networks.nets`` and
its arguments are plain values (no expression, no MONAI instruction such as ``_mode_``), by calling the
class itself (``network_build``: no argument that downloads or names a file, weights that fit in memory
on a meta-device build, no network access or file write while it runs); MONAI's ``ConfigParser`` is not
used. MONAI is imported only here. See ``docs/model-files.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..card import ModelCard, parse_card
from ..errors import ModelLoadError
from ..file_hash import folder_sha256
from .bundle_config import CONFIG_NAMES, read_config
from .bundle_config import Resolver as _Resolver
from .bundle_config import fail as _fail
from .file_safety import check_checkpoint_file, inspect_file
from .network_build import build_from_args
from .torchscript import TorchScriptTapModel

WEIGHTS = ("model.pt", "model.ts")
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


def is_bundle(path) -> bool:
    path = Path(path)
    return (
        path.is_dir()
        and (path / "configs" / "metadata.json").is_file()
        and any((path / "configs" / name).is_file() for name in CONFIG_NAMES)
    )


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


def derive_card(config: dict, metadata: dict, path: Path, notes: list | None = None) -> ModelCard:
    """The model card a bundle's inference config implies (see the module docstring's table)."""
    notes = [] if notes is None else notes
    resolver = _Resolver(config, path)
    spec: dict = {"array_order": "xyz"}
    steps, unknown = [], []
    resampled = False  # a grid transform came before
    intensity_stage = None
    for where, item in _transforms(config, resolver, path):
        name = _target_name(item)
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
    KeepLargestConnectedComponentd; other transforms (saving, copying) do not change the labels."""
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


# ---------------------------------------------------------------- the network and its weights
def build_network(config: dict, path: Path) -> nn.Module:
    """``network_def`` built, only for network classes of ``monai.networks.nets`` with plain arguments."""
    try:
        import monai.networks.nets as nets  # noqa: PLC0415  (MONAI is optional: bundles only)
    except ImportError as exc:
        raise ModelLoadError(
            f"MONAI bundles need MONAI, which is not installed ({exc}). Install it: pip install monai"
        ) from None
    resolver = _Resolver(config, path)
    net = resolver.value(config.get("network_def"), "network_def")
    if not isinstance(net, dict) or "_target_" not in net:
        _fail(path, "network_def", "is missing or has no _target_")
    target = str(net["_target_"])
    name = target.rsplit(".", 1)[-1]
    if target not in (name, f"monai.networks.nets.{name}") or not isinstance(getattr(nets, name, None), type):
        _fail(
            path,
            "network_def._target_",
            f"is {target!r}, not a class of monai.networks.nets",
            "Only MONAI's own networks are built from a bundle; for others export the model (TorchScript, .pt2).",
        )

    cls = getattr(nets, name)
    if not issubclass(cls, nn.Module):
        _fail(
            path,
            "network_def._target_",
            f"is {target!r}, a class of monai.networks.nets that is not a network",
            "Name a network class (UNet, SegResNet, ...).",
        )

    def reserved(node):  # MONAI's own keys (_target_, _mode_, _disabled_, _requires_, _desc_): never data
        if isinstance(node, dict):
            return next((k for k in node if str(k).startswith("_") and str(k).endswith("_")), None) or next(
                (r for r in map(reserved, node.values()) if r), None
            )
        return next((r for r in map(reserved, node) if r), None) if isinstance(node, list) else None

    args = {k: v for k, v in net.items() if k != "_target_"}
    key = reserved(args)
    if key is not None:  # _mode_ "debug" would open pdb, "callable" return no network, _disabled_ None
        _fail(
            path,
            f"network_def.{key}",
            "is a MONAI instruction, not an argument of the network",
            "Remove it: the network is built from plain values only.",
        )
    try:  # no downloads, then the size on the meta device, then the build (network_build)
        return build_from_args(cls, args, f"{path}: network_def", "Fix network_def in the config.")
    except TypeError as exc:  # wrong keyword arguments and the like
        _fail(path, "network_def", f"does not build {name} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")


def _check_weights_file(file: Path) -> None:
    """Empty, truncated, Git LFS pointer, text: named. ``model.pt`` must be a torch.save file, ``model.ts``
    TorchScript."""
    if file.suffix != ".ts":
        check_checkpoint_file(
            file,
            "the state dict a bundle keeps in models/model.pt",
            "a bundle's TorchScript is models/model.ts; else save torch.save(net.state_dict(), 'models/model.pt').",
        )
        return
    inspection = inspect_file(file)
    if inspection.kind in ("empty", "not_a_model"):
        raise ModelLoadError(inspection.problems[0])
    if inspection.kind != "torchscript":
        raise ModelLoadError(
            f"{file} is a {inspection.kind.replace('_', ' ')} file, not TorchScript (torch.jit.save); "
            "a bundle keeps a state dict in models/model.pt: rename it."
        )


def load_weights(network: nn.Module, file: Path) -> None:
    """``models/model.pt``: a state dict (or {"model": state dict}), read without running code."""
    _check_weights_file(file)
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{file} is not a plain state dict (reading it would run code: {type(exc).__name__}). "
            "Save torch.save(net.state_dict(), 'models/model.pt')."
        ) from exc
    if (
        isinstance(state, dict)
        and isinstance(state.get("model"), dict)
        and not any(isinstance(v, torch.Tensor) for v in state.values())
    ):
        state = state["model"]
    expected = set(network.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelLoadError(
            f"{file} does not fit network_def: missing {', '.join(missing[:6]) or 'none'}; "
            f"unexpected {', '.join(unexpected[:6]) or 'none'}. Check network_def in the config."
        )
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{file} does not fit network_def: {str(exc).splitlines()[0]}") from None


def card_for_bundle(path, notes=None) -> ModelCard:
    config, config_path, metadata = read_config(Path(path))
    return derive_card(config, metadata, config_path, notes)


def load_bundle(path, card=None, *, device=None, notes=None):
    """(module, card, sha256, files) for a MONAI bundle folder; the derived card unless ``card`` is given."""
    root = Path(path)
    notes = [] if notes is None else notes
    config, config_path, metadata = read_config(root)
    weights = next((root / "models" / n for n in WEIGHTS if (root / "models" / n).is_file()), None)
    if weights is None:
        raise ModelLoadError(
            f"{root / 'models'} holds neither {' nor '.join(WEIGHTS)}: a bundle keeps its weights there."
        )
    _check_weights_file(weights)  # a damaged file is named before anything else is read or built
    card_obj = card if card is not None else derive_card(config, metadata, config_path, notes)
    if weights.suffix == ".ts":
        try:
            module = TorchScriptTapModel(torch.jit.load(str(weights), map_location="cpu").eval(), None)
        except RuntimeError as exc:
            raise ModelLoadError(f"{weights} is not a loadable TorchScript archive: {exc}") from exc
    else:
        module = build_network(config, config_path)
        load_weights(module, weights)
    module.to(torch.device(device or "cpu")).eval()
    return module, card_obj, folder_sha256([config_path, root / "configs" / "metadata.json", weights]), [weights]
