"""``compare_image()``: a volume + model file/card -> every method's map, checked and ranked.

Why here: the CLI's ``compare``, the cohort runner and the Slicer logic share it, so a comparison gives
the same numbers from every front door. The model is loaded once, the volume is brought to the model grid
once (as ``explain_image`` does), ``evaluation.compare.compare_methods`` runs the methods on that tensor,
and each map is brought back to the source's own grid; localisation (pointing game, energy) is scored
there, where the region was drawn, as ``evaluation.volume`` does for one map.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import SimpleITK as sitk

from ..card import load_card
from ..volumes.geometry import heatmap_to_native, mask_to_model
from ..volumes.prediction import labels_rule, postprocessed
from .explain_image import _default_card
from .localiser import chained_model_input


@dataclass
class VolumeComparison:
    comparison: object  # evaluation.compare.Comparison (model grid)
    heatmap_images: dict  # method -> sitk float32 image on the first input's own grid, [0, 1]
    model_input: object
    card: object
    target_index: int | None
    target_name: str | None
    timings: dict = field(default_factory=dict)

    @property
    def rows(self) -> list:
        return self.comparison.rows

    def to_dict(self, curves: bool = True) -> dict:
        out = self.comparison.to_dict(curves=curves)
        out.update(
            {
                "target_index": self.target_index,
                "target_name": self.target_name,
                "timings": {k: float(v) for k, v in self.timings.items()},
            }
        )
        return out


def compare_image(
    images,
    model,
    card=None,
    methods=None,
    target=None,
    *,
    region=None,
    region_label=None,
    region_mask=None,
    body_mask=None,
    layers=None,
    tolerance_mm: float = 0.0,
    device=None,
    trust_code=False,
    explain_options: dict | None = None,
    **checks,
) -> VolumeComparison:
    """Compare methods on ``images`` (a SimpleITK image or one per channel) for ``model`` (module or file).

    ``region``: a SimpleITK label image on any grid (pointing game and energy fraction, on the source grid;
    ``region_label`` picks one label). ``region_mask``: the segmentation target region, as for
    ``explain_image``. ``body_mask``: an image on any grid, where the sanity check compares maps (as for
    ``evaluate_volume``). ``target``: None (top class), an index or a class name from the card. ``checks`` go
    to ``compare_methods`` (steps, random_repeats, sanity_layers, extra_maps, method_options, ...).
    """
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..evaluation.compare import compare_methods  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..evaluation.report import (  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
        json_safe,
        localisation_report,
    )
    from ..evaluation.volume import region_on_grid  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..models.loading import resolve_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    started = time.perf_counter()
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    module, card_obj = resolve_model(model, None if card is None else load_card(card), device, trust_code=trust_code)
    card_obj = load_card(card_obj) if card_obj is not None else _default_card(images)
    timings = {"load": time.perf_counter() - started}
    tick = time.perf_counter()
    model_input = chained_model_input(images, card_obj, device=device, trust_code=trust_code)
    native_region = None
    if region is not None:
        native_region = (
            region_on_grid(region, model_input.reference, region_label)
            if isinstance(region, sitk.Image)
            else np.asarray(region, dtype=bool)
        )
    options = {"task": card_obj.task, "output_activation": card_obj.output.activation, **(explain_options or {})}
    if card_obj.output.key is not None:
        options.setdefault("output_key", card_obj.output.key)
    if card_obj.inference.sliding:  # every method and every check runs the model on windows, as explain does
        options.setdefault("sliding_window", card_obj.inference)
    if region_mask is not None:
        options["mask"] = torch.from_numpy(mask_to_model(region_mask, model_input))
    elif card_obj.task == "segmentation" and postprocessed(card_obj.output):  # what the card predicts
        options.setdefault("mask", labels_rule(card_obj.output, card_obj.output.activation))
    if body_mask is not None:
        checks["foreground"] = mask_to_model(body_mask, model_input)
    if layers is None:
        layers = list(card_obj.target_layer) if isinstance(card_obj.target_layer, tuple) else card_obj.target_layer
    if isinstance(target, str):
        target = card_obj.class_index(target)
    timings["to_model"] = time.perf_counter() - tick
    param = next(module.parameters(), None)
    x = model_input.tensor.to(param.device if param is not None else "cpu")

    tick = time.perf_counter()
    comparison = compare_methods(module, x, methods, target, layers=layers, explain_options=options, **checks)
    timings["compare"] = time.perf_counter() - tick

    tick = time.perf_counter()
    heatmap_images = {}
    spacing = tuple(reversed(model_input.reference.GetSpacing()))
    for name, maps in comparison.maps.items():
        heat = sitk.Clamp(heatmap_to_native(np.clip(maps, 0.0, None), model_input), sitk.sitkFloat32, 0.0, 1.0)
        heatmap_images[name] = heat
        if native_region is not None:
            native = sitk.GetArrayFromImage(heat)
            comparison.row(name).update(
                json_safe(localisation_report(native, native_region, tolerance_mm=tolerance_mm, spacing=spacing))
            )
    timings["to_native"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    explained = comparison.target[0] if comparison.target else None
    return VolumeComparison(
        comparison,
        heatmap_images,
        model_input,
        card_obj,
        explained,
        card_obj.class_name(explained) if explained is not None else None,
        timings,
    )


@dataclass
class StoredComparison:
    """A comparison read back from a worker's job folder: what ``mrml.compare_nodes.show_comparison`` needs
    (rows best first, the curves, every method's map on the source's own grid), without the model."""

    record: dict
    heatmap_images: dict

    @property
    def rows(self) -> list:
        return self.record["table"]

    @property
    def comparison(self):
        return SimpleNamespace(curves=self.record.get("curves") or {})

    @property
    def target_index(self):
        return self.record.get("target_index")

    @property
    def target_name(self):
        return self.record.get("target_name")

    def to_dict(self, curves: bool = True) -> dict:
        return {k: v for k, v in self.record.items() if curves or k != "curves"}


def save_comparison(result, folder) -> dict:
    """Write every method's map (``heatmaps/<method>.nrrd``) into ``folder``; returns the JSON-ready record
    (the comparison with its curves, and which file holds which map)."""
    folder = Path(folder)
    (folder / "heatmaps").mkdir(parents=True, exist_ok=True)
    files = {}
    for index, (name, image) in enumerate(result.heatmap_images.items()):
        files[name] = f"heatmaps/{index:02d}.nrrd"  # method names may hold '+': never in a file name
        sitk.WriteImage(image, str(folder / files[name]), True)
    record = result.to_dict(curves=True)
    record["heatmaps"] = files
    return record


def load_comparison(folder, record: dict) -> StoredComparison:
    """The inverse of :func:`save_comparison`."""
    folder = Path(folder)
    images = {name: sitk.ReadImage(str(folder / path)) for name, path in (record.get("heatmaps") or {}).items()}
    return StoredComparison(json.loads(json.dumps(record)), images)
