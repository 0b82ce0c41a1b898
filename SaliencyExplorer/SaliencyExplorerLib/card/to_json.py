"""A ModelCard back to JSON: what ``parse_card`` reads back to an equal card (defaults left out), for the
worker's job folder and the ``card`` command."""

from __future__ import annotations

from .spec import SLICE_AXES, IntensityChain, ModelCard


# ---------------------------------------------------------------- back to JSON
def _rule_to_json(rule):
    if isinstance(rule, IntensityChain):
        return [{step.op: dict(step.params)} for step in rule.steps]
    out = {"type": rule.type}
    for key in {"window": ("min", "max"), "zscore": ("mean", "std"), "scale": ("a", "b")}.get(rule.type, ()):
        if getattr(rule, key) is not None:
            out[key] = getattr(rule, key)
    return out


def _axes_to_json(values, dims, slice_axis):
    if values is None:
        return None
    values = list(values)
    if dims == 2 and values[SLICE_AXES.index(slice_axis)] is None:
        del values[SLICE_AXES.index(slice_axis)]
    return values


def card_to_dict(card: ModelCard) -> dict:
    """A :class:`ModelCard` -> the JSON dict ``parse_card`` reads back to an equal card (defaults left out)."""
    spec = card.input
    rules = [_rule_to_json(r) for r in spec.intensity]
    inp = {"array_order": spec.array_order, "slice_axis": spec.slice_axis}
    if spec.orientation is not None:
        inp["orientation"] = spec.orientation
    for key in ("spacing", "size"):
        value = _axes_to_json(getattr(spec, key), card.spatial_dims, spec.slice_axis)
        if value is not None:
            inp[key] = value
    inp["center"] = "image" if spec.center == "image" else {"foreground": spec.center[1]}
    if len(rules) == 1 and isinstance(spec.intensity[0], IntensityChain):
        inp["intensity"] = rules[0]
    else:
        inp["intensity"] = rules[0] if len(rules) == 1 else rules
    inp["background"] = spec.background
    for key, default in (
        ("reorient", "resample"),
        ("fit", "center"),
        ("intensity_on", "model_grid"),
        ("interpolation", "linear"),
        ("resampling", "physical"),
        ("reader", "auto"),
    ):
        if getattr(spec, key) != default:
            inp[key] = getattr(spec, key)
    if tuple(spec.transpose) != (0, 1, 2):
        inp["transpose"] = list(spec.transpose)
    crop = spec.crop_foreground
    if crop is not None:
        inp["crop_foreground"] = {
            "select": crop.select,
            "threshold": crop.threshold,
            "margin": list(crop.margin),
            "on": crop.on,
            "source": crop.source,
            "allow_smaller": crop.allow_smaller,
        }
    out = {
        "name": card.name,
        "description": card.description,
        "task": card.task,
        "spatial_dims": card.spatial_dims,
        "in_channels": card.in_channels,
    }
    if card.version is not None:
        out["version"] = card.version
    if card.classes is not None:
        out["classes"] = list(card.classes)
    out["input"] = inp
    output = card.output
    out["output"] = {
        "activation": output.activation,
        "key": output.key,
        "threshold": output.threshold,
        "resample": output.resample,
        "largest_component": output.largest_component,
    }
    if output.region_labels is not None:
        out["output"]["region_labels"] = list(output.region_labels)
    if output.smooth is not None:
        sigma = output.smooth.sigma
        out["output"]["smooth"] = {
            "sigma": sigma[0] if len(sigma) == 1 else list(sigma),
            "kernel": output.smooth.kernel,
            "edges": output.smooth.edges,
        }
    inf = card.inference
    if inf.sliding:
        # MONAI's form: SlidingWindowInferer's own arguments (its "mode" is the blend)
        out["inference"] = {
            "sliding_window": {
                "roi_size": list(inf.roi_size),
                "sw_batch_size": inf.sw_batch_size,
                "overlap": inf.overlap[0] if len(inf.overlap) == 1 else list(inf.overlap),
                "mode": inf.blend,
                "sigma_scale": inf.sigma_scale[0] if len(inf.sigma_scale) == 1 else list(inf.sigma_scale),
                "padding_mode": inf.padding_mode,
                "cval": inf.cval,
            }
        }
        if inf.tiling != "monai":
            out["inference"]["tiling"] = inf.tiling
    else:
        out["inference"] = {"mode": "whole"}
    if inf.mirror_axes:
        out["inference"]["mirror_axes"] = list(inf.mirror_axes)
    if card.target_layer is not None:
        out["target_layer"] = card.target_layer if isinstance(card.target_layer, str) else list(card.target_layer)
    if card.architecture is not None:
        out["architecture"] = {"class": card.architecture["class"], "kwargs": dict(card.architecture.get("kwargs", {}))}
    if card.weights is not None:
        out["weights"] = card.weights
    if card.localiser is not None:
        spec = card.localiser
        out["localiser"] = {"model": spec.model, "card": card_to_dict(spec.card), "box_margin": spec.box_margin}
        if spec.label is not None:
            out["localiser"]["label"] = spec.label
    if card.previous_stage is not None:
        spec = card.previous_stage
        out["previous_stage"] = {"model": spec.model, "labels": list(spec.labels)}
        if spec.card is not None:
            out["previous_stage"]["card"] = card_to_dict(spec.card)
    return out
