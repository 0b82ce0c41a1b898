"""The model's answer on the source's own grid, as MONAI's ``Invertd`` + ``AsDiscreted`` and nnU-Net give it,
following the card's ``output`` (the one path from the model's output to ``--prediction-output``).

Why: taking the argmax on the model grid and bringing labels back by nearest neighbour moves every label
boundary by up to half a model voxel; the frameworks bring each class back and decide on the scan's grid,
so the tool does the same to give their answer voxel for voxel. The card's ``output`` chooses the steps
(``volumes.prediction`` holds the model-grid ones): ``smooth`` the logits, ``resample`` back "probabilities"
(activated on the model grid, MONAI's ``Activationsd`` before ``Invertd``), "logits" (activated on the scan's
grid, nnU-Net's order) or "labels" (decided on the model grid, nearest neighbour back); "auto" is the
framework's own order ("logits" for ``input.resampling: "nnunet"``, else "probabilities"); ``threshold`` a
sigmoid channel, the argmax of several softmax ones, each of several sigmoid ones (multi-label, drawn in
``region_labels`` order); ``largest_component``. The way back is the only framework-specific
step: MONAI (and plain cards) resample linearly through patient space; nnU-Net resizes in index space onto
its crop box (``nnunet_resampling.logits_to_box``) and leaves background outside the box.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .geometry import Grid, ModelInput, as_3d, edge_padded, from_layout, labels_to_native
from .nnunet_resampling import logits_to_box
from .prediction import activate, decide, keep_largest_component, region_labels, smooth


def resample_mode(output, card) -> str:
    """What goes back to the scan's grid: the card's ``output.resample``, "auto" made the framework's order."""
    mode = getattr(output, "resample", "auto")
    if mode == "auto":
        return "logits" if card.input.resampling == "nnunet" else "probabilities"
    return mode


def _after(values: np.ndarray, activation: str, classes: int) -> np.ndarray:
    """The activation of one class's logits on the scan's grid. Softmax over several classes keeps the logits:
    their argmax is the probabilities' argmax (and needs one class at a time only)."""
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-values))
    if activation == "softmax" and classes == 1:
        return np.ones_like(values)
    return values


def _physical_back(channel: np.ndarray, model_input: ModelInput, reference: sitk.Image, activation, classes):
    """One class resampled linearly through patient space (edge values beyond the grid when the card pads with
    the edge), as MONAI's ``Invertd``; outside the model's field of view a probability is 0, a logit -inf
    (background after any activation)."""
    on_grid = model_input.grid.image(from_layout(channel, model_input.card))
    source = edge_padded(on_grid, Grid.of(reference)) if model_input.card.input.background == "edge" else on_grid
    outside = 0.0 if activation == "none" else -np.inf
    back = sitk.GetArrayFromImage(
        sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, outside, sitk.sitkFloat32)
    )
    return _after(back, activation, classes)


def _nnunet_back(channel: np.ndarray, model_input: ModelInput, reference: sitk.Image, activation, classes):
    """One class resized onto nnU-Net's crop box in index space, then its activation; 0 outside the box."""
    card, box = model_input.card, model_input.native_box
    inside = logits_to_box(
        from_layout(channel, card)[None], model_input.grid.spacing, reference, box, card.input.transpose
    )[0]
    full = np.zeros(reference.GetSize()[::-1], dtype=np.float64)
    full[tuple(slice(b0, b1) for b0, b1 in box)] = _after(inside, activation, classes)
    return full


def _decided_on_native(values: np.ndarray, model_input: ModelInput, activation: str, threshold: float, regions=None):
    """Each class of ``values`` (N, C, *spatial) brought back, ``activation`` applied there ("none": they are
    probabilities already), then decided: one channel above ``threshold``, else the argmax, or with ``regions``
    (multi-label) each channel above ``threshold`` draws its label in order. One class at a time: a running
    maximum, not all classes' volumes at once."""
    reference = as_3d(model_input.reference)
    back = _nnunet_back if model_input.card.input.resampling == "nnunet" else _physical_back
    classes = values.shape[1]
    best = label = None
    for c in range(classes):
        p = back(values[:, c], model_input, reference, activation, classes)
        if regions is not None:
            if label is None:
                label = np.zeros(p.shape, np.uint16 if max(regions) > 255 else np.uint8)
            label[p > threshold] = regions[c]
        elif classes == 1:
            label = (p > threshold).astype(np.uint8)
        elif best is None:
            best, label = p, np.zeros(p.shape, np.uint16 if classes > 256 else np.uint8)
        else:
            better = p > best
            best, label = np.where(better, p, best), np.where(better, c, label).astype(label.dtype)
    out = sitk.GetImageFromArray(label)
    out = out[:, :, 0] if model_input.was_2d else out
    out.CopyInformation(model_input.reference)
    return out


def predict(scores: np.ndarray, activation: str, output, model_input: ModelInput) -> sitk.Image:
    """The label image on the source's own grid from the model's output ``scores`` (N, K, *spatial) on the
    model grid, following the card's ``output`` (an ``OutputSpec``: smooth, resample, threshold,
    largest_component) and the resolved ``activation``."""
    scores = np.asarray(scores, dtype=np.float32)
    if output.smooth is not None:
        spec = output.smooth
        scores = smooth(scores, spec.sigma, scores.ndim - 2, spec.kernel, spec.edges)
    mode = resample_mode(output, model_input.card)
    regions = region_labels(activation, scores.shape[1], output)
    if mode == "labels":
        labels = decide(activate(scores, activation, axis=1), output.threshold, axis=1, regions=regions)
        image = labels_to_native(labels, model_input)
    elif mode == "probabilities":
        probabilities = activate(scores, activation, axis=1).astype(np.float32)
        image = _decided_on_native(probabilities, model_input, "none", output.threshold, regions)
    else:
        image = _decided_on_native(scores, model_input, activation, output.threshold, regions)
    return keep_largest_component(image) if output.largest_component else image


def argmax_on_native(values: np.ndarray, model_input: ModelInput, activation: str = "none") -> sitk.Image:
    """(N, C, *spatial) on the model grid -> labels on the reference's own grid, each framework's order with
    no other postprocessing (``predict`` with the card's default output): ``values`` made probabilities by
    ``activation`` ("none": they are already) on the model grid before the physical way back (MONAI), on the
    native grid after nnU-Net's (it resamples logits)."""
    values = np.asarray(values, dtype=np.float32)
    regions = region_labels(activation, values.shape[1], model_input.card.output)
    if model_input.card.input.resampling == "nnunet":
        return _decided_on_native(values, model_input, activation, 0.5, regions)
    probabilities = activate(values, activation, axis=1).astype(np.float32)
    return _decided_on_native(probabilities, model_input, "none", 0.5, regions)
