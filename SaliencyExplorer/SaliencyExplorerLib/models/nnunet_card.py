"""The model card of an nnU-Net v2 configuration, derived from ``plans.json`` and ``dataset.json``.

Why: everything nnU-Net does before and after its network is written down in the plans, so the card follows
from them (see models/nnunet.py's docstring for each field's origin).
"""

from __future__ import annotations

from pathlib import Path

from ..card import ModelCard, parse_card
from .nnunet_plans import (
    _fail,
    _normalisation,
    _positive_number,
    configuration,
    dataset_fields,
    label_layout,
    previous_stage_folder,
)

RESAMPLING_ORDER = {0: "nearest", 1: "linear", 3: "bspline"}


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
    try:
        regions, classes, foreground = label_layout(labels)
    except (TypeError, ValueError):
        _fail(dataset_path, "labels", "maps names to something other than integer labels or regions")
    region_order = None
    if regions:  # region-based training: one sigmoid output per foreground region, labelled in this order
        region_order = dataset.get("regions_class_order")
        if (
            not isinstance(region_order, list)
            or len(region_order) != len(classes)
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**15 for v in region_order)
        ):
            _fail(
                dataset_path,
                "regions_class_order",
                f"is {region_order!r}, not one label value per region ({len(classes)})",
                "Region-based nnU-Net needs regions_class_order (nnU-Net refuses such a dataset too).",
            )
    elif foreground != list(range(1, len(classes))):
        _fail(
            dataset_path,
            "labels",
            f"values {[0, *foreground]} are not 0..{len(classes) - 1}",
            "nnU-Net v2 needs consecutive labels.",
        )
    previous = previous_stage_folder(root, config, plans_path)
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
        "in_channels": len(channels) + (len(foreground) if previous is not None else 0),
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
        "output": {"activation": "sigmoid", "region_labels": region_order} if regions else {"activation": "softmax"},
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
    if previous is not None:  # a cascade stage: its previous stage's labels, one-hot, follow the image channels
        card["previous_stage"] = {"model": str(previous), "labels": foreground}
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
    else:
        card["input"]["transpose"] = [int(t) for t in transpose]
    card["input"]["resampling"] = "nnunet"  # its index-space resize both ways (volumes/nnunet_resampling.py)
    return parse_card(card)
