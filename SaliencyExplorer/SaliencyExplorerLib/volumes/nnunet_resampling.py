"""nnU-Net's own resampling, both ways, for cards with ``input.resampling: "nnunet"`` (derived nnU-Net folders).

Why: nnU-Net does not resample through patient space. It crops the array to the non-zero box of all
channels, normalises, and resizes the box in index space (``resample_data_or_seg_to_shape``: skimage's
``resize`` with ``mode="edge"``, no anti-aliasing; when the spacing is anisotropic, ratio > 3, each slice
across the low-resolution axis in-plane, then that axis alone with ``order_z`` 0, i.e. nearest). Its
answer comes back the same way: the logits resized to the box with order 1 (order_z 0 again), then the
activation and the argmax on the NATIVE grid (``native_labels.py``, one path with the other cards'), and
zeros (background) outside the box. A linear resampling through space is not the same on anisotropic
scans (the low-resolution axis is nearest, not linear) and an argmax taken on the model grid moves the
lesion's border, so both directions copy nnU-Net's code path.
The model grid (``Grid``) is still placed in patient space, edge-aligned with the box, so heatmaps and
masks go through the usual physical resampling.

    values, box, grid = preprocess(vols, card, rules)     # == DefaultPreprocessor.run_case's array
    back = logits_to_box(logits, grid_spacing, image, box)  # nnUNetPredictor's logits on the native box
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from .cropping import crop_box, selected_voxels
from .intensity import nnunet_nonzero_mask, normalise_intensity, uses_nnunet_mask

ANISOTROPY = 3  # nnunetv2.configuration.ANISO_THRESHOLD
ORDERS = {"nearest": 0, "linear": 1, "bspline": 3}
OUTPUT_ORDER, ORDER_Z = 1, 0  # nnU-Net's resampling_fn_probabilities kwargs, and order_z of both directions


def _ndimage():
    """scipy.ndimage (nnU-Net's own resampling library), imported only for nnU-Net cards."""
    try:
        from scipy import ndimage  # noqa: PLC0415  (optional: only nnU-Net cards need it)
    except ImportError:
        raise SaliencyError(
            'input.resampling "nnunet" resamples as nnU-Net does, with scipy, which is not '
            "installed. Install it: pip install scipy"
        ) from None
    return ndimage


def skimage_resize(values: np.ndarray, shape, order: int) -> np.ndarray:
    """``skimage.transform.resize(values, shape, order, mode="edge", anti_aliasing=False)`` for float input:
    scipy's grid-mode zoom with an edge-replicating border, clipped to the input's range."""
    values = np.asarray(values, dtype=np.float64)
    factors = [o / i for o, i in zip(shape, values.shape)]
    out = _ndimage().zoom(values, factors, order=order, mode="nearest", grid_mode=True)
    if order > 0:
        np.clip(out, values.min(), values.max(), out=out)
    return out


def separate_z_axis(current, new, threshold=ANISOTROPY):
    """The axis nnU-Net resamples alone (``determine_do_sep_z_and_axis`` with ``force_separate_z`` None): the
    one coarsest axis of the current spacing if it is anisotropic, else of the new one; None otherwise."""
    for spacing in (current, new):
        spacing = np.asarray(spacing, dtype=float)
        if spacing.max() / spacing.min() > threshold:
            axes = np.where(spacing.max() / spacing == 1)[0]
            return int(axes[0]) if len(axes) == 1 else None
    return None


def resample_to_shape(data: np.ndarray, shape, current, new, order: int, order_z: int = ORDER_Z) -> np.ndarray:
    """nnU-Net's ``resample_data_or_seg_to_shape`` for images (not segmentations): (C, *spatial) -> float64
    (C, *shape). An unchanged shape returns the data untouched, as nnU-Net does."""
    data = np.asarray(data)
    old, shape = np.asarray(data.shape[1:]), np.asarray(shape, dtype=int)
    if np.all(old == shape):
        return data.astype(np.float64)
    axis = separate_z_axis(current, new)
    out = np.zeros((data.shape[0], *shape), dtype=np.float64)
    for c in range(data.shape[0]):
        if axis is None:
            out[c] = skimage_resize(data[c], shape, order)
            continue
        inplane = tuple(int(n) for a, n in enumerate(shape) if a != axis)
        partial = np.moveaxis(
            np.stack([skimage_resize(s, inplane, order) for s in np.moveaxis(data[c], axis, 0)]), 0, axis
        )
        if old[axis] == shape[axis]:
            out[c] = partial
            continue
        scale = np.asarray(partial.shape, float) / shape  # align_corners=False, as nnU-Net's copy of skimage
        coords = np.stack([scale[a] * (g + 0.5) - 0.5 for a, g in enumerate(np.mgrid[tuple(slice(n) for n in shape)])])
        out[c] = _ndimage().map_coordinates(partial, coords, order=order_z, mode="nearest")
    return out


def labels_to_shape(labels: np.ndarray, shape, current, new, values) -> np.ndarray:
    """A cascade's previous-stage labels (*spatial, nnU-Net's array order) as nnU-Net's preprocessor brings a
    segmentation to the model grid and one-hot encodes it: ``resample_data_or_seg_to_shape(is_seg=True,
    order=1, order_z=0)`` (batchgenerators' ``resize_segmentation``: each label's mask resized linearly, kept
    where >= 0.5, higher labels drawn over lower; the separate low-resolution axis by nearest neighbour), then
    ``convert_labelmap_to_one_hot`` of ``values``. -> float32 (len(values), *shape)."""
    old, shape = np.asarray(labels.shape), np.asarray(shape, dtype=int)
    out = labels
    if not np.all(old == shape):
        axis = separate_z_axis(current, new)
        out = np.zeros(tuple(shape), dtype=labels.dtype)
        for value in np.unique(labels):  # ascending, as np.unique: later labels over earlier
            if value == 0:
                continue  # background (and nnU-Net's -1 outside the non-zero mask) never covers a label
            mask = (labels == value).astype(np.float64)
            if axis is None:
                out[skimage_resize(mask, shape, 1) >= 0.5] = value
                continue
            inplane = tuple(int(n) for a, n in enumerate(shape) if a != axis)
            partial = np.moveaxis(
                np.stack([skimage_resize(s, inplane, 1) >= 0.5 for s in np.moveaxis(mask, axis, 0)]), 0, axis
            )
            if old[axis] != shape[axis]:  # then the label map itself along that axis, nearest
                scale = np.asarray(partial.shape, float) / shape
                grid = np.mgrid[tuple(slice(n) for n in shape)]
                coords = np.stack([scale[a] * (g + 0.5) - 0.5 for a, g in enumerate(grid)])
                partial = _ndimage().map_coordinates(partial.astype(np.float64), coords, order=0, mode="nearest") > 0
            out[partial] = value
    return np.stack([(out == v) for v in values]).astype(np.float32)


def box_grid(vol: sitk.Image, box, shape, transpose=(0, 1, 2)) -> dict:
    """The model grid (``Grid`` fields) of an index-space resize of ``vol[box]`` (box in the scan's own (k, j, i)
    array order) to ``shape`` (in the transposed array order nnU-Net's network sees): the scan's own axes,
    permuted by ``transpose``, edge-aligned with the box: model voxel m sits at native index
    (m + 0.5) * n / size - 0.5 along its axis."""
    matrix = np.asarray(vol.GetDirection(), float).reshape(3, 3)
    s_native = np.asarray(vol.GetSpacing(), float)
    first, columns, spacing, size = np.zeros(3), [], [], []
    for m in range(3):  # grid axis i, j, k = transposed array axis 2, 1, 0 = original array axis transpose[2 - m]
        axis = int(transpose[2 - m])
        col = 2 - axis  # the scan's physical axis of that array axis
        n, count = box[axis][1] - box[axis][0], int(shape[2 - m])
        first[col] = box[axis][0] + 0.5 * n / count - 0.5
        columns.append(matrix[:, col])
        spacing.append(n * s_native[col] / count)
        size.append(count)
    origin = np.asarray(vol.GetOrigin(), float) + matrix @ (first * s_native)
    return {
        "size": tuple(size),
        "spacing": tuple(float(v) for v in spacing),
        "origin": tuple(float(o) for o in origin),
        "direction": tuple(float(v) for v in np.stack(columns, axis=1).ravel()),
    }


def preprocess(vols, card, rules, previous=None):
    """DefaultPreprocessor.run_case on SimpleITK volumes (one per channel): crop to the non-zero box of all
    channels, normalise (before or after resizing, per the card), index-space resize to the card's spacing;
    ``previous`` (a cascade's previous-stage labels on the first volume's voxels, (k, j, i)) follows as the
    card's ``previous_stage.labels`` one-hot channels (``labels_to_shape``).
    -> (float32 (C, k, j, i) on the model grid, the box ((start, stop) per k, j, i), the grid's fields)."""
    spec = card.input
    slices_ok = card.spatial_dims == 3 or (spec.slice_axis == "k" and tuple(spec.transpose) == (0, 1, 2))
    if not slices_ok or spec.orientation is not None or spec.fit != "extent":
        raise SaliencyError(
            'input.resampling "nnunet" needs a model on the volume\'s own axes with fit "extent" (a 2D one '
            "on k slices), as the card derived from an nnU-Net folder. Remove input.resampling."
        )
    transpose = tuple(spec.transpose)
    arrays = [sitk.GetArrayFromImage(v).astype(np.float32).transpose(transpose) for v in vols]
    if any(a.shape != arrays[0].shape for a in arrays):
        raise SaliencyError(
            f"the channel images have different sizes ({[a.shape[::-1] for a in arrays]}); nnU-Net "
            "needs every channel on the first one's grid. Resample them onto it first."
        )
    box = tuple((0, n) for n in arrays[0].shape)
    crop = spec.crop_foreground
    if crop is not None:
        select = np.zeros(arrays[0].shape, dtype=bool)
        for a in arrays:
            select |= selected_voxels(a, crop)
        box = crop_box(select, crop.margin)
        if box is None:
            raise SaliencyError(
                f"the card's crop_foreground selects no voxel (select {crop.select!r}); every "
                "channel is empty. Check the image."
            )
    cut = tuple(slice(b0, b1) for b0, b1 in box)
    arrays = [a[cut] for a in arrays]
    if spec.intensity_on == "native":
        mask = nnunet_nonzero_mask(arrays) if any(uses_nnunet_mask(r) for r in rules) else None
        arrays = [normalise_intensity(a, rule, mask=mask) for a, rule in zip(arrays, rules)]  # statistics of the box
    current = np.asarray(vols[0].GetSpacing(), float)[::-1][list(transpose)]  # nnU-Net's array order
    target = [float(t) if t is not None else float(c) for t, c in zip((spec.spacing or (None,) * 3)[::-1], current)]
    shape = [int(round(c / t * n)) for c, t, n in zip(current, target, arrays[0].shape)]  # compute_new_shape
    values = resample_to_shape(np.stack(arrays), shape, current, target, ORDERS[spec.interpolation]).astype(np.float32)
    if spec.intensity_on == "model_grid":
        values = np.stack([normalise_intensity(v, rule) for v, rule in zip(values, rules)])
    if previous is not None:
        labels = np.asarray(previous).transpose(transpose)[cut]
        values = np.concatenate([values, labels_to_shape(labels, shape, current, target, card.previous_stage.labels)])
    native_box = [None] * 3  # the box in the scan's own array order
    for a, axis in enumerate(transpose):
        native_box[axis] = box[a]
    return values, tuple(native_box), box_grid(vols[0], native_box, shape, transpose)


def logits_to_box(logits: np.ndarray, grid_spacing, reference: sitk.Image, box, transpose=(0, 1, 2)) -> np.ndarray:
    """nnU-Net's way back, before its activation (``convert_predicted_logits_to_segmentation_with_correct_shape``):
    logits (C, *grid array) on the model grid resized to the native box (order 1, order_z 0), the transpose
    reverted. ``box``: in the reference's (k, j, i) order. -> float64 (C, *box) in that order. The activation and
    the argmax on the native grid are ``native_labels.argmax_on_native``'s, shared with the other cards."""
    transpose = [int(t) for t in transpose]
    current = np.asarray(grid_spacing, float)[::-1]
    native = np.asarray(reference.GetSpacing(), float)[::-1][transpose]
    back = resample_to_shape(logits, [box[t][1] - box[t][0] for t in transpose], current, native, OUTPUT_ORDER)
    return back.transpose([0, *(int(np.argsort(transpose)[a]) + 1 for a in range(3))])  # transpose_backward
