"""Evaluate a pipeline result (`explain_image`'s VolumeExplanation): the CLI, the worker and the Slicer
logic share this, so every front door reports the same numbers for the same run.

Faithfulness and sanity run on the model grid the map was made on; localisation runs on the source's own
grid, with the region (a label image on any grid) resampled there by nearest neighbour through physical
space.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch

from ..errors import SaliencyError
from ..volumes.geometry import mask_to_model
from ..volumes.prediction import labels_rule, postprocessed
from .report import evaluate_explanation, json_safe, localisation_report


def region_on_grid(region, reference, label: int | None = None, name: str = "region") -> np.ndarray:
    """A SimpleITK label image -> bool (k, j, i) mask on `reference`'s grid; empty/outside: a clear error."""

    if region.GetNumberOfComponentsPerPixel() != 1:
        raise SaliencyError(f"The {name} has several components per voxel; give a label volume.")
    if region.GetDimension() != reference.GetDimension():
        raise SaliencyError(
            f"The {name} is {region.GetDimension()}D but the image is {reference.GetDimension()}D; give a "
            f"region volume of the same dimension."
        )
    resampled = sitk.Resample(region, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0, region.GetPixelID())
    values = sitk.GetArrayFromImage(resampled)
    mask = values == label if label is not None else values != 0
    if not mask.any():
        what = f"label {label}" if label is not None else "any non-zero label"
        raise SaliencyError(
            f"The {name} has no voxel with {what} on the image's grid: it is empty or does not overlap the "
            f"image. Check the region (and its label), and that both share patient space."
        )
    return mask


def _explain_options(card, explanation) -> dict:
    """What the sanity check needs to recompute the same map on a randomised model: the card's output
    handling, the layers, and the method options the explanation was made with."""
    options = dict(getattr(explanation, "options", None) or {})
    options.update({"task": card.task, "output_activation": card.output.activation})
    if card.output.key is not None:
        options["output_key"] = card.output.key
    if explanation.layers:
        options["layers"] = list(explanation.layers)
    if card.inference.sliding:  # the checks run the model on windows, as the explanation did
        options["sliding_window"] = card.inference
    if card.task == "segmentation" and postprocessed(card.output):  # the region the card predicts, as explained
        options["mask"] = labels_rule(card.output, card.output.activation)
    return options


def evaluate_volume(
    result,
    model,
    region=None,
    region_label: int | None = None,
    tolerance_mm: float = 0.0,
    region_mask=None,
    body_mask=None,
    **checks,
) -> dict:
    """JSON-ready report for one `explain_image` result made with `model` (the loaded nn.Module).

    `region`: a SimpleITK label image on any grid, or a bool array on the source grid (localisation).
    `region_mask`: the segmentation target region given to `explain_image` (an image on any grid), so the
    checks score the region the map explained. `body_mask` (an image on any grid): where the sanity check
    compares maps (default: the voxels that are not background). `checks` go to `evaluate_explanation` (steps, batch_size,
    replacement, random_repeats, sanity, max_layers, ...).
    """

    explanation, reference = result.explanation, result.model_input.reference
    mask = None
    if region is not None:
        mask = (
            region_on_grid(region, reference, region_label)
            if isinstance(region, sitk.Image)
            else np.asarray(region, dtype=bool)
        )
    param = next(model.parameters(), None)
    x = result.model_input.tensor.to(param.device if param is not None else "cpu")
    options = _explain_options(result.card, explanation)
    if region_mask is not None:
        options["mask"] = torch.from_numpy(mask_to_model(region_mask, result.model_input))
    if body_mask is not None:
        checks["foreground"] = mask_to_model(body_mask, result.model_input)
    report = evaluate_explanation(
        model,
        x,
        explanation.heatmap,
        target=list(explanation.target),
        method=explanation.method,
        explain_options=options,
        **checks,
    )
    if mask is not None:
        native = sitk.GetArrayFromImage(result.heatmap_image)
        spacing = tuple(reversed(reference.GetSpacing()))
        report.update(localisation_report(native, mask, tolerance_mm=tolerance_mm, spacing=spacing))
    report.update(
        {
            "method": explanation.method,
            "layers": list(explanation.layers),
            "target": result.target_index,
            "target_name": result.target_name,
            "score": result.score,
            "peak_ras": None if result.peak_ras is None else [float(v) for v in np.asarray(result.peak_ras)],
        }
    )
    return json_safe(report)
