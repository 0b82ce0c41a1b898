"""The model-grid steps of the model's own answer, as the card's ``output`` says: the postprocessing a MONAI
bundle (or a package such as taps) runs after inference. ``native_labels.predict`` takes them in the
framework's order and brings the answer to the volume's grid (the one path for ``--prediction-output``);
``labels_rule`` takes them on the model grid for the engine's region, so the map explains that answer.

1. ``smooth``: a Gaussian blur of the logits on the model grid (MONAI ``GaussianSmooth``: "erf" kernel, zero
   edges; or ``scipy.ndimage.gaussian_filter(mode="nearest")``: "sampled" kernel, nearest edges), 4 sigma.
2. ``activate`` and ``decide``: a sigmoid channel is foreground where its probability is above ``threshold``
   (``AsDiscrete``); several softmax channels take the argmax; several sigmoid channels are multi-label
   (MONAI's BraTS bundle, nnU-Net's region-based training): each channel is decided on its own, and the label
   image draws each channel's ``region_labels`` value in order (nnU-Net's ``regions_class_order``).
3. ``largest_component``: each class keeps its largest connected component (``KeepLargestConnectedComponent``,
   full connectivity, classes independently).
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError

TRUNCATE = 4.0  # sigmas: MONAI's GaussianFilter and scipy's gaussian_filter both stop there


def gaussian_kernel(sigma: float, kernel: str = "erf") -> np.ndarray:
    """1D kernel: MONAI's ``gaussian_1d(approx="erf")`` (not renormalised, as MONAI), or scipy's sampled and
    normalised Gaussian (radius ``int(4 sigma + 0.5)``)."""
    if kernel == "erf":
        tail = int(max(sigma * TRUNCATE, 0.5) + 0.5)
        x = np.arange(-tail, tail + 1, dtype=np.float64)
        t = 0.70710678 / abs(sigma)
        erf = np.vectorize(math.erf)
        return np.clip(0.5 * (erf(t * (x + 0.5)) - erf(t * (x - 0.5))), 0.0, None)
    radius = int(TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * x * x / (sigma * sigma))
    return weights / weights.sum()


def smooth(values: np.ndarray, sigma, dims: int, kernel: str = "erf", edges: str = "zeros") -> np.ndarray:
    """Separable Gaussian blur of ``values`` (..., *spatial) over its last ``dims`` axes; ``sigma`` is one
    value or one per spatial axis (voxels); ``edges`` "zeros" pads 0, "nearest" repeats the edge voxel."""
    sigma = tuple(sigma) if isinstance(sigma, (list, tuple)) else (sigma,)
    sigma = sigma * dims if len(sigma) == 1 else sigma
    out = np.asarray(values, dtype=np.float64)
    for axis, s in zip(range(out.ndim - dims, out.ndim), sigma):
        weights = gaussian_kernel(float(s), kernel)
        half = len(weights) // 2
        pad = [(0, 0)] * out.ndim
        pad[axis] = (half, half)
        padded = np.pad(out, pad, mode="constant" if edges == "zeros" else "edge")
        length = out.shape[axis]
        total = np.zeros_like(out)
        for offset, weight in enumerate(weights):
            total += weight * np.take(padded, np.arange(offset, offset + length), axis=axis)
        out = total
    return out.astype(np.float32)


def activate(scores: np.ndarray, activation: str, axis: int = 0) -> np.ndarray:
    """Probabilities from logits along the class ``axis`` (numpy twin of ``core.targets.activate``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    if activation == "softmax":
        shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
        return shifted / shifted.sum(axis=axis, keepdims=True)
    return scores


def region_labels(activation: str, channels: int, output) -> tuple | None:
    """The label each channel draws when the output is multi-label (several sigmoid channels, each its own
    yes/no): the card's ``output.region_labels`` or 1..K. None when each voxel has one answer (softmax, one
    channel)."""
    if activation != "sigmoid" or channels < 2:
        return None
    labels = getattr(output, "region_labels", None)
    if labels is None:
        return tuple(range(1, channels + 1))
    if len(labels) != channels:
        raise SaliencyError(
            f"The card's output.region_labels names {len(labels)} labels but the model has {channels} sigmoid "
            "output channels; give one label per channel (nnU-Net's regions_class_order)."
        )
    return tuple(labels)


def decide(probabilities: np.ndarray, threshold: float = 0.5, axis: int = 0, regions=None) -> np.ndarray:
    """Labels: one channel -> probability above ``threshold`` (1) or not (0); several -> the argmax, or with
    ``regions`` (multi-label, see ``region_labels``) each channel above ``threshold`` draws its label in order,
    later channels over earlier (nnU-Net's ``convert_probabilities_to_segmentation``)."""
    if regions is not None:
        labels = np.zeros(np.take(probabilities, 0, axis=axis).shape, np.uint16 if max(regions) > 255 else np.uint8)
        for c, value in enumerate(regions):
            labels[np.take(probabilities, c, axis=axis) > threshold] = value
        return labels
    if probabilities.shape[axis] == 1:
        return (np.take(probabilities, 0, axis=axis) > threshold).astype(np.uint8)
    return probabilities.argmax(axis=axis)


def keep_largest_component(labels: sitk.Image) -> sitk.Image:
    """Every non-zero label keeps only its largest connected component (26-connected in 3D)."""
    values = sitk.GetArrayFromImage(labels)
    out = np.zeros_like(values)
    for label in np.unique(values[values != 0]):
        selected = sitk.GetImageFromArray((values == label).astype(np.uint8))
        parts = sitk.RelabelComponent(sitk.ConnectedComponent(selected, True), sortByObjectSize=True)
        out[sitk.GetArrayViewFromImage(parts) == 1] = label
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(labels)
    return image


def postprocessed(output) -> bool:
    """Whether the card's prediction differs from the plain one (argmax; a single channel above 0.5) on the
    model grid, so the explained region must follow it."""
    return output.smooth is not None or output.threshold != 0.5 or output.largest_component


def labels_rule(output, activation: str):
    """A callable: the model's output (N, K, *spatial) on the model grid -> the labels (N, *spatial) the card
    predicts there (smooth, activation, threshold, largest component): the engine's region for a
    segmentation target (``core.targets.resolve_target``), so the map explains the prediction the user sees.
    A multi-label output gives each channel's own decision instead, (N, K, *spatial) of 0/1: the region of
    a class is its channel, which later channels' labels may cover in the label image."""

    def _largest(values):
        image = sitk.GetImageFromArray(np.ascontiguousarray(values).astype(np.uint16))
        return sitk.GetArrayFromImage(keep_largest_component(image))

    def labels(scores):
        values = np.asarray(scores.detach().float().cpu().numpy() if hasattr(scores, "detach") else scores)
        if output.smooth is not None:
            values = smooth(values, output.smooth.sigma, values.ndim - 2, output.smooth.kernel, output.smooth.edges)
        chosen = activation if activation != "auto" else ("sigmoid" if values.shape[1] == 1 else "softmax")
        probabilities = activate(values, chosen, axis=1)
        if region_labels(chosen, values.shape[1], output) is not None:
            out = (probabilities > output.threshold).astype(np.int64)
            if output.largest_component:
                out = np.stack([np.stack([_largest(channel) for channel in sample]) for sample in out])
            return out.astype(np.int64)
        out = decide(probabilities, output.threshold, axis=1)
        if output.largest_component:
            out = np.stack([_largest(sample) for sample in out])
        return out.astype(np.int64)

    return labels
