"""nnU-Net v2 trained-model folders read and checked: the folds and their checkpoints (without running code),
``plans.json``'s configuration and normalisation, ``dataset.json``'s channels and labels.

Why apart: every field nnU-Net wrote is validated here once, with a one-line error naming the file and field;
the card (nnunet_card.py) and the network (nnunet_network.py) only read what passed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError
from .file_safety import check_checkpoint_file, explain_load_error

CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")
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
    previous = config.get("previous_stage")
    if previous is not None and (not isinstance(previous, str) or previous not in configs or previous == name):
        _fail(plans_path, f"configurations.{name}.previous_stage", f"is {previous!r}, not another configuration")
    return config


def previous_stage_folder(root: Path, config: dict, plans_path: Path) -> Path | None:
    """A cascade stage's previous stage: the trained folder of ``previous_stage`` beside this one (nnU-Net names
    them ``Trainer__Plans__configuration``); None for a configuration that is not a cascade stage."""
    previous = config.get("previous_stage")
    if previous is None:
        return None
    if root.name.count("__") != 2:
        _fail(
            root,
            "folder name",
            "is not nnU-Net's Trainer__Plans__configuration, so the cascade's previous stage cannot be found",
            "Keep the folders as nnU-Net wrote them.",
        )
    folder = root.parent / f"{root.name.rsplit('__', 1)[0]}__{previous}"
    if not (folder / "plans.json").is_file():
        _fail(
            plans_path,
            "previous_stage",
            f"is {previous!r}, whose trained folder {folder.name} is not beside this cascade stage",
            f"nnU-Net predicts the {previous} stage first: put its folder beside this one.",
        )
    return folder


def label_layout(labels: dict) -> tuple[bool, list, list]:
    """(region-based, the names of the output heads, the foreground label values) of dataset.json's labels, as
    nnU-Net's LabelManager reads them: a region is a list of more than one label; the ``ignore`` label has no
    head; a cascade stage gets one input channel per foreground label (its previous stage's one-hot)."""
    labels = {name: v for name, v in labels.items() if name != "ignore"}
    regions = any(isinstance(v, (list, tuple)) and len(v) > 1 for v in labels.values())
    values = sorted({int(x) for v in labels.values() for x in (v if isinstance(v, list) else [v])} - {0})
    if regions:
        return True, [n for n, v in labels.items() if not (v == 0 or (isinstance(v, list) and set(v) == {0}))], values
    return False, [n for n, _ in sorted(labels.items(), key=lambda kv: int(_scalar(kv[1])))], values


def _scalar(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


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
