"""nnU-Net v2 trained-model folders as models: the network from the plans, the weights without running code,
and a model card derived from ``plans.json`` and ``dataset.json``.

Why: nnU-Net users hold a folder (``plans.json``, ``dataset.json``, ``fold_N/checkpoint_final.pth``), not a
model file and a card. Everything nnU-Net does before and after its network is written down in the plans,
so the card follows from them: SimpleITK array order (``zyx``), no reorientation (the model grid keeps the
image's own direction), the configuration's target spacing reached by nnU-Net's own index-space resize of
the non-zero box (``fit: "extent"``, ``resampling: "nnunet"``: separate z on anisotropic scans, the labels
taken on the native grid), normalisation in native space before resampling (CT: clip to the foreground's
0.5/99.5 percentiles, z-score with the stored mean and std; else a per-image z-score), sliding windows of
the patch size with nnU-Net's tiling (step 0.5) and its Gaussian (sigma 1/8), test-time mirroring over the
checkpoint's ``inference_allowed_mirroring_axes`` (``MirrorEnsemble``), softmax over the labels of
``dataset.json``. Several folds are averaged, as nnU-Net's ensemble.

    load_nnunet("Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres")          # every fold found
    load_nnunet("Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0")   # one fold

``dynamic_network_architectures`` (the package nnU-Net builds its networks with) is imported only here.
See ``docs/model-files.md``.
"""

from __future__ import annotations

import importlib
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..card import ModelCard, parse_card
from ..errors import ModelLoadError
from ..file_hash import folder_sha256
from .file_safety import check_checkpoint_file, explain_load_error
from .network_build import build_from_args

CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")
INSTALL = "pip install dynamic-network-architectures --no-deps"
# In a checkout: the set-up script's nnunet option does the same in .venv (and adds einops).
SETUP_OPTION = "bash scripts/setup_env.sh nnunet"
ARCH_PREFIX = "dynamic_network_architectures.architectures."
IMPORTABLE_PREFIX = "torch.nn."  # the only classes a plan's _kw_requires_import may name
RESAMPLING_ORDER = {0: "nearest", 1: "linear", 3: "bspline"}
SUPPORTED_CONFIGS = ("2d", "3d_fullres", "3d_lowres")


def is_nnunet_folder(path: Path) -> bool:
    """A trained-model folder (plans.json + dataset.json) or one of its ``fold_N`` folders."""
    path = Path(path)
    if not path.is_dir():
        return False
    return (path / "plans.json").is_file() or (path.name.startswith("fold_") and (path.parent / "plans.json").is_file())


def checkpoint_types() -> list:
    """Exactly the non-tensor types nnU-Net pickles into a checkpoint (numpy scalars and their dtypes in
    ``logging``/``_best_ema``; ``torch.device`` in ``init_args`` is allowed by PyTorch already)."""
    core = getattr(np, "_core", None) or np.core
    types = [core.multiarray.scalar, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        types += [
            getattr(dtypes, n)
            for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType")
            if hasattr(dtypes, n)
        ]
    return types


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ModelLoadError(
            f"{path} is missing: an nnU-Net v2 trained-model folder holds {what}. Give the "
            "folder nnU-Net wrote (…/nnUNetTrainer__nnUNetPlans__3d_fullres) or one of its fold_N."
        )
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelLoadError(
            f"{path} is {path.stat().st_size >> 20} MiB; nnU-Net writes a few kB. Restore the file nnU-Net wrote."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON ({exc}). Restore the file nnU-Net wrote.") from None
    except RecursionError:
        raise ModelLoadError(f"{path} is nested too deeply to read. Restore the file nnU-Net wrote.") from None
    if not isinstance(data, dict):
        raise ModelLoadError(
            f"{path} holds a JSON {type(data).__name__}, not an object. Restore the file nnU-Net wrote."
        )
    return data


MAX_JSON_BYTES = 16 << 20


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _fail(path, field, problem, fix=""):
    raise ModelLoadError(f"{path}: field '{field}' {problem}.{' ' + fix if fix else ''}")


def find_folds(path: Path) -> tuple[Path, list[Path]]:
    """(the trained-model folder, the checkpoint files to average). ``path`` is the folder (every fold with a
    checkpoint) or ``fold_N`` (that fold only)."""
    path = Path(path)
    if path.name.startswith("fold_") and not (path / "plans.json").is_file():
        root, folds = path.parent, [path]
    else:
        root = path
        folds = sorted(
            (p for p in path.iterdir() if p.is_dir() and p.name.startswith("fold_")),
            key=lambda p: (not p.name[5:].isdigit(), int(p.name[5:]) if p.name[5:].isdigit() else 0, p.name),
        )
        if not folds:
            raise ModelLoadError(
                f"{path} has plans.json but no fold_N folder: nnU-Net writes its weights to "
                "fold_N/checkpoint_final.pth. Give the folder the training wrote."
            )
    checkpoints = []
    for fold in folds:
        found = next((fold / n for n in CHECKPOINTS if (fold / n).is_file()), None)
        if found is None:
            if path == fold:
                raise ModelLoadError(
                    f"{fold} holds no {' or '.join(CHECKPOINTS)}: this fold was not trained to the "
                    "end, or its checkpoint was moved. Give a fold that has one."
                )
            continue  # a fold still training: nnU-Net's own auto-detection skips it too
        checkpoints.append(found)
    if not checkpoints:
        raise ModelLoadError(
            f"no fold of {root} holds {' or '.join(CHECKPOINTS)} (looked in "
            f"{', '.join(f.name for f in folds)}). Give a folder with at least one finished fold."
        )
    return root, checkpoints


def read_checkpoint(path: Path, trust_code: bool = False) -> dict:
    """An nnU-Net checkpoint, unpickled without running code (``weights_only`` with nnU-Net's own types).
    A damaged file (empty, truncated, a Git LFS pointer, TorchScript) is named as such first."""
    check_checkpoint_file(
        path,
        "the checkpoint nnU-Net writes (torch.save of a dict with 'network_weights')",
        "give the fold's checkpoint_final.pth as nnU-Net wrote it.",
    )
    try:
        with torch.serialization.safe_globals(checkpoint_types()):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError or anything the restricted unpickler raises
        if not trust_code:
            raise ModelLoadError(
                f"{path} holds objects other than the tensors, numbers and numpy scalars nnU-Net saves, so "
                f"reading it would run code from the file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
                "If you trust it, pass trust_code=True (CLI: --trust-code)."
            ) from exc
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a class the pickle names is gone, a damaged record, ...
            raise ModelLoadError(explain_load_error(path, exc)) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("network_weights"), dict):
        raise ModelLoadError(
            f"{path}: field 'network_weights' is missing: this is not an nnU-Net v2 checkpoint "
            "(nnU-Net v1 saved 'state_dict'; convert the model with nnU-Net v2). "
        )
    return obj


def configuration(plans: dict, name: str, plans_path: Path) -> dict:
    """The named configuration, with nnU-Net's ``inherits_from`` resolved."""
    configs = plans.get("configurations")
    if not isinstance(configs, dict):
        _fail(
            plans_path,
            "configurations",
            "is missing: this is not an nnU-Net v2 plans file",
            "nnU-Net v1 folders (plans.pkl) are not supported; retrain or convert with nnU-Net v2.",
        )
    if name not in configs:
        _fail(
            plans_path,
            f"configurations.{name}",
            f"is missing, but the checkpoint was trained with configuration "
            f"{name!r} (the plans have {', '.join(configs)})",
            "The checkpoint and plans.json do not belong together.",
        )
    config, seen = dict(configs[name]), {name}
    while "inherits_from" in config:
        parent = config.pop("inherits_from")
        if parent in seen or parent not in configs:
            _fail(plans_path, f"configurations.{name}.inherits_from", f"names {parent!r}, which is missing or circular")
        seen.add(parent)
        config = {**configs[parent], **config}
    if config.get("previous_stage") or "cascade" in name:
        _fail(
            plans_path,
            f"configurations.{name}",
            "is a cascade stage, which needs the previous stage's segmentation as input",
            f"Use the {name.replace('_cascade', '')} model, or explain the first stage.",
        )
    return config


def _normalisation(scheme: str, index: int, plans: dict, use_mask: bool, plans_path: Path, notes: list):
    where = f"configurations.*.normalization_schemes[{index}]"
    if scheme == "CTNormalization":
        every = plans.get("foreground_intensity_properties_per_channel") or {}
        props = every.get(str(index)) if isinstance(every, dict) else None
        keys = ("percentile_00_5", "percentile_99_5", "mean", "std")
        if not isinstance(props, dict) or any(not _finite_number(props.get(k)) for k in keys):
            _fail(
                plans_path,
                f"foreground_intensity_properties_per_channel.{index}",
                "lacks the percentiles, mean or std CT normalisation needs",
            )
        return [
            {"clip": {"min": float(props["percentile_00_5"]), "max": float(props["percentile_99_5"])}},
            {"zscore": {"mean": float(props["mean"]), "std": max(float(props["std"]), 1e-8)}},
        ]
    if scheme == "ZScoreNormalization":
        return [{"zscore": {"mask": "nnunet_nonzero"} if use_mask else {}}]  # use_mask_for_norm: inside its mask
    if scheme == "NoNormalization":
        return {"type": "none"}
    if scheme == "RescaleTo01Normalization":
        return [{"range_percentiles": {"lower": 0, "upper": 100, "b_min": 0.0, "b_max": 1.0}}]
    if scheme == "RGBTo01Normalization":
        return [{"scale": {"a": 1 / 255.0, "b": 0.0}}]
    _fail(
        plans_path,
        where,
        f"is {scheme!r}, which has no card equivalent",
        "Supported: CTNormalization, "
        "ZScoreNormalization, NoNormalization, RescaleTo01Normalization, RGBTo01Normalization.",
    )


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _positive_number(value) -> bool:
    return _finite_number(value) and value > 0


def dataset_fields(dataset: dict, dataset_path: Path) -> tuple[dict, dict]:
    """(channel_names, labels) of dataset.json, checked: objects, labels integers or lists of integers."""
    channels = dataset.get("channel_names", dataset.get("modality"))
    labels = dataset.get("labels")
    if not isinstance(channels, dict) or not channels:
        _fail(dataset_path, "channel_names", f"is {channels!r}, not an object naming each input channel")
    if not isinstance(labels, dict) or not labels:
        _fail(dataset_path, "labels", f"is {labels!r}, not an object of label names and values")
    for name, value in labels.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**15 for v in values):
            _fail(dataset_path, f"labels.{name}", f"is {value!r}, not a label value (0..32767) or a list of them")
    if len(channels) > 4096 or len(labels) > 4096:
        _fail(dataset_path, "channel_names", "names more than 4096 channels or labels; no model has that many")
    return channels, labels


def derive_card(
    plans: dict, dataset: dict, config_name: str, root: Path, notes: list | None = None, mirror_axes=None
) -> ModelCard:
    """The model card of an nnU-Net v2 configuration (see the module docstring for each field's origin);
    ``mirror_axes``: the checkpoint's ``inference_allowed_mirroring_axes`` (nnU-Net's test-time mirroring)."""
    notes = [] if notes is None else notes
    plans_path, dataset_path = root / "plans.json", root / "dataset.json"
    config = configuration(plans, config_name, plans_path)
    transpose = plans.get("transpose_forward", [0, 1, 2])
    if not isinstance(transpose, list) or not all(type(t) is int for t in transpose) or sorted(transpose) != [0, 1, 2]:
        _fail(plans_path, "transpose_forward", f"is {transpose!r}, not a permutation of [0, 1, 2]")
    channels, labels = dataset_fields(dataset, dataset_path)
    regions = any(isinstance(v, (list, tuple)) for v in labels.values())
    if regions:  # region-based training: one sigmoid output per foreground region
        classes = [name for name, v in labels.items() if not (v == 0 or v == [0])]
    else:
        try:
            ordered = sorted(labels.items(), key=lambda kv: int(kv[1]))
        except (TypeError, ValueError):
            _fail(dataset_path, "labels", "maps names to something other than integer labels or regions")
        classes = [name for name, _ in ordered]
        if [int(v) for _, v in ordered] != list(range(len(ordered))):
            _fail(
                dataset_path,
                "labels",
                f"values {[v for _, v in ordered]} are not 0..{len(ordered) - 1}",
                "nnU-Net v2 needs consecutive labels.",
            )
    patch = config.get("patch_size")
    spacing = config.get("spacing")
    if not isinstance(patch, list) or len(patch) not in (2, 3):
        _fail(plans_path, f"configurations.{config_name}.patch_size", f"is {patch!r}, not 2 or 3 integers")
    if not isinstance(spacing, list) or len(spacing) != len(patch):
        _fail(plans_path, f"configurations.{config_name}.spacing", f"is {spacing!r}, not one value per patch axis")
    if not all(_positive_number(v) for v in spacing):
        _fail(plans_path, f"configurations.{config_name}.spacing", f"is {spacing!r}, not positive numbers in mm")
    dims = len(patch)
    schemes = config.get("normalization_schemes") or []
    if not isinstance(schemes, list) or not all(isinstance(v, str) for v in schemes):
        _fail(
            plans_path,
            f"configurations.{config_name}.normalization_schemes",
            f"is {schemes!r}, not a list of scheme names",
        )
    if len(schemes) != len(channels):
        _fail(
            plans_path,
            f"configurations.{config_name}.normalization_schemes",
            f"has {len(schemes)} entries for {len(channels)} channels in dataset.json",
        )
    use_mask = config.get("use_mask_for_norm") or [False] * len(schemes)
    if not isinstance(use_mask, list) or len(use_mask) < len(schemes):
        _fail(
            plans_path, f"configurations.{config_name}.use_mask_for_norm", f"is {use_mask!r}, not one flag per channel"
        )
    kwargs = config.get("resampling_fn_data_kwargs") or {}
    if not isinstance(kwargs, dict):
        _fail(plans_path, f"configurations.{config_name}.resampling_fn_data_kwargs", "is not an object")
    intensity = [_normalisation(s, n, plans, bool(use_mask[n]), plans_path, notes) for n, s in enumerate(schemes)]
    order = kwargs.get("order", 3)
    if order not in RESAMPLING_ORDER:
        _fail(
            plans_path,
            f"configurations.{config_name}.resampling_fn_data_kwargs.order",
            f"is {order!r}; the card resamples with order 0, 1 or 3",
        )
    back = config.get("resampling_fn_probabilities_kwargs") or {}
    if (
        kwargs.get("order_z", 0) != 0
        or kwargs.get("force_separate_z") is not None
        or back.get("order", 1) != 1
        or back.get("order_z", 0) != 0
        or back.get("force_separate_z") is not None
    ):
        notes.append(
            "the plans resample with order_z/force_separate_z/probability orders other than nnU-Net's "
            "defaults (order_z 0, automatic separate z, probabilities order 1); the card uses the defaults"
        )
    # nnU-Net spacing and patch are in array (z, y, x) order: the card's spacing is i, j, k
    card = {
        "name": f"{plans.get('dataset_name', root.parent.name)} nnU-Net {config_name}",
        "description": f"nnU-Net v2 {root.name}, configuration {config_name} ({plans.get('plans_name', 'plans')})",
        "task": "segmentation",
        "spatial_dims": dims,
        "in_channels": len(channels),
        "classes": classes,
        "input": {
            "array_order": "zyx",
            "spacing": [float(s) for s in spacing[::-1]],
            "fit": "extent",
            "intensity_on": "native",
            "crop_foreground": {"select": "nonzero", "on": "native", "source": "raw"},
            "interpolation": RESAMPLING_ORDER[order],
            "intensity": intensity[0] if len(intensity) == 1 else intensity,
            "background": 0.0,
        },
        "output": {"activation": "sigmoid" if regions else "softmax"},
        "inference": {
            "mode": "sliding_window",
            "roi_size": [int(p) for p in patch],
            "overlap": 0.5,
            "blend": "gaussian",
            "sigma_scale": 0.125,
            "padding_mode": "constant",
            "cval": 0.0,
            "tiling": "nnunet",
            "mirror_axes": [int(a) for a in mirror_axes or ()],
        },
    }
    if dims == 2:
        if transpose != [0, 1, 2]:
            _fail(
                plans_path,
                "transpose_forward",
                f"is {transpose} for the 2d configuration: its slices would be "
                "taken along a permuted axis, which the card cannot say",
                "Use a 3d configuration.",
            )
        card["input"]["slice_axis"] = "k"  # nnU-Net's 2d slices the first array axis (z)
    else:  # its index-space resize both ways, labels on the native grid (volumes/nnunet_resampling.py)
        card["input"]["resampling"] = "nnunet"
        card["input"]["transpose"] = [int(t) for t in transpose]
    return parse_card(card)


def _architecture_class():
    try:
        importlib.import_module("dynamic_network_architectures")
    except ImportError as exc:
        raise ModelLoadError(
            f"nnU-Net folders need the package dynamic_network_architectures, which nnU-Net builds "
            f"its networks with, and it is not installed ({exc}). Install it: `{SETUP_OPTION}` in a "
            f"checkout, else `{INSTALL}` (--no-deps keeps your torch)."
        ) from None


def _locate(dotted: str, prefix: str, where: str, plans_path: Path):
    if not isinstance(dotted, str) or not dotted.startswith(prefix):
        _fail(
            plans_path,
            where,
            f"names {dotted!r}, outside {prefix}*",
            "Only networks of dynamic_network_architectures and torch.nn building blocks are built from plans.",
        )
    module_name, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        _fail(
            plans_path,
            where,
            f"names {dotted!r}, which cannot be imported ({exc})",
            f"Update dynamic_network_architectures ({INSTALL.replace('install', 'install -U')}).",
        )


def build_network(plans: dict, dataset: dict, config_name: str, root: Path) -> nn.Module:
    """The configuration's network as nnU-Net builds it (``get_network_from_plans``), no deep supervision."""
    _architecture_class()
    plans_path = root / "plans.json"
    config = configuration(plans, config_name, plans_path)
    arch = config.get("architecture")
    if not isinstance(arch, dict) or "network_class_name" not in arch:
        _fail(
            plans_path,
            f"configurations.{config_name}.architecture",
            "is missing: plans from nnU-Net before v2.4 describe the network differently",
            "Re-plan with nnU-Net >= 2.4 (the weights stay valid).",
        )
    where = f"configurations.{config_name}.architecture"
    cls = _locate(arch["network_class_name"], ARCH_PREFIX, f"{where}.network_class_name", plans_path)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        _fail(plans_path, f"{where}.network_class_name", f"names {cls!r}, not a torch.nn.Module")
    kwargs = dict(arch.get("arch_kwargs") or {})
    for key in arch.get("_kw_requires_import") or ():
        if kwargs.get(key) is not None:
            kwargs[key] = _locate(kwargs[key], IMPORTABLE_PREFIX, f"{where}.arch_kwargs.{key}", plans_path)
    channels, labels = dataset_fields(dataset, root / "dataset.json")
    regions = any(isinstance(v, (list, tuple)) for v in labels.values())
    outputs = sum(1 for v in labels.values() if not (v == 0 or v == [0])) if regions else len(labels)
    try:  # no downloads, then the size on the meta device, then the build (network_build)
        return build_from_args(
            cls,
            dict(input_channels=len(channels), num_classes=outputs, deep_supervision=False, **kwargs),
            f"{plans_path}: {where}.arch_kwargs",
            "Restore the plans.json nnU-Net wrote.",
        )
    except TypeError as exc:
        _fail(plans_path, f"{where}.arch_kwargs", f"do not fit {cls.__name__} ({exc})")


class FoldEnsemble(nn.Module):
    """nnU-Net's ensemble of folds: the mean of the folds' logits (``folds.N`` is fold N's network).

    Averaging per window equals nnU-Net's averaging of each fold's blended prediction: blending is linear.
    """

    def __init__(self, networks, names):
        super().__init__()
        self.folds = nn.ModuleList(networks)
        self.fold_names = list(names)

    def forward(self, x):
        out = None
        for net in self.folds:
            y = net(x)
            out = y if out is None else out + y
        return out / len(self.folds)


class MirrorEnsemble(nn.Module):
    """nnU-Net's test-time mirroring: the mean of ``flip(net(flip(x)))`` over no flip and every combination of
    the spatial ``axes`` (its ``_internal_maybe_mirror_and_predict``). Gradients through it are the mean of
    each pass's gradient flipped back, so gradient and perturbation methods explain the mirrored prediction.
    A layer inside runs once per pass: methods that capture layers must explain ``network`` instead."""

    def __init__(self, network, axes):
        super().__init__()
        self.network = network
        self.axes = tuple(int(a) for a in axes)

    def forward(self, x):
        dims = [a + 2 for a in self.axes]
        flips = [c for n in range(1, len(dims) + 1) for c in itertools.combinations(dims, n)]
        out = self.network(x)
        for flip in flips:
            out = out + torch.flip(self.network(torch.flip(x, flip)), flip)
        return out / (len(flips) + 1)


def load_nnunet(path, card=None, *, trust_code=False, device=None, notes=None):
    """(module, card, sha256, files) for an nnU-Net v2 folder or ``fold_N`` folder; the derived card unless
    ``card`` (a ModelCard) is given."""
    notes = [] if notes is None else notes
    root, checkpoints = find_folds(Path(path))
    plans_path, dataset_path = root / "plans.json", root / "dataset.json"
    if (root / "plans.pkl").is_file() and not plans_path.is_file():
        raise ModelLoadError(f"{root} is an nnU-Net v1 folder (plans.pkl); only nnU-Net v2 folders are supported.")
    plans = _read_json(plans_path, "plans.json")
    dataset = _read_json(dataset_path, "dataset.json")
    networks, config_name, mirror_axes = [], None, None
    for ckpt in checkpoints:
        checkpoint = read_checkpoint(ckpt, trust_code)
        init = checkpoint.get("init_args") if isinstance(checkpoint.get("init_args"), dict) else {}
        name = init.get("configuration")
        if not isinstance(name, str):
            _fail(ckpt, "init_args.configuration", "is missing", "This is not a checkpoint nnU-Net v2 wrote.")
        if config_name is None:  # nnU-Net takes the mirroring axes of the first fold too
            config_name, mirror_axes = name, checkpoint.get("inference_allowed_mirroring_axes")
        elif name != config_name:
            _fail(
                ckpt,
                "init_args.configuration",
                f"is {name!r} but {checkpoints[0]} is {config_name!r}",
                "Folds of one folder must share a configuration.",
            )
        network = build_network(plans, dataset, name, root)
        _load_weights(network, checkpoint["network_weights"], ckpt, plans_path)
        networks.append(network)
    card_obj = card if card is not None else derive_card(plans, dataset, config_name, root, notes, mirror_axes)
    module = networks[0] if len(networks) == 1 else FoldEnsemble(networks, [c.parent.name for c in checkpoints])
    module.to(torch.device(device or "cpu")).eval()
    files = [plans_path, dataset_path, *checkpoints]
    return module, card_obj, folder_sha256(files), files


def _load_weights(network: nn.Module, state: dict, ckpt: Path, plans_path: Path) -> None:
    expected, given = network.state_dict(), state
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = sorted(
        k
        for k in set(expected) & set(given)
        if isinstance(given[k], torch.Tensor) and tuple(given[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:

        def names(keys):
            return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")

        parts = [
            f"missing {names(missing)}" if missing else "",
            f"unexpected {names(unexpected)}" if unexpected else "",
            f"other shapes for {names(shapes)}" if shapes else "",
        ]
        raise ModelLoadError(
            f"{ckpt}: field 'network_weights' does not fit the network {plans_path} describes "
            f"({'; '.join(p for p in parts if p)}). The checkpoint and plans.json do not belong together."
        )
    network.load_state_dict(given, strict=True)


def card_for_folder(path, notes=None):
    """The derived card of a folder (or fold), reading the first checkpoint only for its configuration."""
    root, checkpoints = find_folds(Path(path))
    plans = _read_json(root / "plans.json", "plans.json")
    dataset = _read_json(root / "dataset.json", "dataset.json")
    checkpoint = read_checkpoint(checkpoints[0])
    init = checkpoint.get("init_args") or {}
    name = init.get("configuration") if isinstance(init, dict) else None
    if not isinstance(name, str):
        _fail(checkpoints[0], "init_args.configuration", "is missing", "This is not a checkpoint nnU-Net v2 wrote.")
    return derive_card(plans, dataset, name, root, notes, checkpoint.get("inference_allowed_mirroring_axes"))
