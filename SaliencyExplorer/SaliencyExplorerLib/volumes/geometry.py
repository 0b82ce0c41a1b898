"""The model's grid in patient space, and one resampling each way between it and the source's own grid.

Why: a heatmap must land on the anatomy that caused it. Instead of replaying a log of transforms
(crop, pad, flip, resize ... where one dropped step flips or zeroes the map), we define the model's input
grid (origin, spacing, direction, size) in physical LPS space from the volume and the model card, resample
the volume onto it, and later resample the heatmap from it back onto the volume's OWN grid. Both are a
single resampling through physical space, exact up to interpolation whatever the obliquity, spacing,
flip or crop. Card orientation codes are anatomical ("RAS": axis i points to the patient's Right), so in
SimpleITK's LPS coordinates an axis pointing to R is (-1, 0, 0).

    model_input = to_model([image], card)          # .tensor (N, C, *spatial), .grid, ...
    heat = heatmap_to_native(maps, model_input)    # sitk float32 on image's grid, 0 outside the FOV

Split by job: grid.py (the model grid: Grid, model_grid, orientation codes, input checks), resampling.py
(one resampling onto a grid, background and memory); here the two directions. Their names stay importable
from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..card import ModelCard
from ..errors import SaliencyError
from .cropping import crop_box, crop_native, selected_voxels, take_box
from .grid import (
    LPS_AXIS,
    SLICE_AXIS,
    Grid,
    _sub_grid,
    as_3d,
    check_image,
    model_grid,
    nearest_axes,
    orientation_matrix,
)
from .intensity import normalise_intensity
from .monai_resampling import monai_channels, uses_monai_arithmetic
from .nnunet_resampling import preprocess as nnunet_preprocess
from .resampling import INTERPOLATORS, SPLINE_PAD, _background, check_grid_memory, edge_padded, resample_to_grid

__all__ = [  # the names this module always had, now partly from grid.py and resampling.py
    "INTERPOLATORS",
    "LPS_AXIS",
    "SLICE_AXIS",
    "SPLINE_PAD",
    "Grid",
    "ModelInput",
    "as_3d",
    "check_grid_memory",
    "check_image",
    "edge_padded",
    "from_layout",
    "heatmap_to_native",
    "labels_to_native",
    "lps_from_ras",
    "mask_to_model",
    "model_grid",
    "nearest_axes",
    "orientation_matrix",
    "peak_lps",
    "ras_from_lps",
    "resample_to_grid",
    "to_layout",
    "to_model",
]


def to_layout(array_kji: np.ndarray, card: ModelCard) -> np.ndarray:
    """A (k, j, i) model-grid array -> the model's spatial layout: (1, i, j, k) / (1, k, j, i) for 3D
    models, (slices, a, b) for 2D models (a, b: the in-plane axes in i, j, k order; reversed for zyx)."""
    ijk = np.transpose(array_kji, (2, 1, 0))
    if card.spatial_dims == 3:
        out = ijk if card.input.array_order == "xyz" else array_kji
        return out[None]
    stack = np.moveaxis(ijk, SLICE_AXIS[card.input.slice_axis], 0)  # (slices, a, b)
    return stack if card.input.array_order == "xyz" else np.transpose(stack, (0, 2, 1))


def from_layout(maps: np.ndarray, card: ModelCard) -> np.ndarray:
    """Inverse of :func:`to_layout`: (N, *spatial) maps -> one (k, j, i) array on the model grid."""
    maps = np.asarray(maps)
    if card.spatial_dims == 3:
        one = maps[0]
        return np.transpose(one, (2, 1, 0)) if card.input.array_order == "xyz" else one
    stack = maps if card.input.array_order == "xyz" else np.transpose(maps, (0, 2, 1))
    ijk = np.moveaxis(stack, 0, SLICE_AXIS[card.input.slice_axis])
    return np.transpose(ijk, (2, 1, 0))


# ---------------------------------------------------------------- native -> model -> native
@dataclass
class ModelInput:
    """What the model sees, and what is needed to bring its maps back."""

    tensor: object  # torch.FloatTensor (N, C, *spatial)
    grid: Grid  # the model grid (3D, LPS)
    card: ModelCard
    reference: sitk.Image  # the first input image (its own grid receives the heatmap)
    was_2d: bool = False
    native_box: tuple | None = None  # resampling "nnunet": the cropped box ((start, stop) per k, j, i) of reference


def to_model(images, card: ModelCard, box=None, previous=None):
    """Source image(s) (one per channel, co-registered in physical space) -> :class:`ModelInput`. ``box``
    ((start, stop) per k, j, i voxel axis of the first image, e.g. from a localiser) crops it first; the map
    still goes back to the whole image. ``previous``: a cascade's previous-stage label image on the first
    image's grid, which becomes the card's ``previous_stage`` label channels after the image channels."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    images = list(images) if isinstance(images, (list, tuple)) else [images]
    if not images:
        raise SaliencyError("no input image was given. Give one image per model input channel.")
    for n, img in enumerate(images):
        check_image(img, f"input image {n + 1}")
    if len(images) != card.image_channels:
        extra = f" ({card.in_channels - card.image_channels} of them the previous stage's labels)"
        raise SaliencyError(
            f"the model card says in_channels={card.in_channels}{extra if card.previous_stage else ''} but "
            f"{len(images)} image(s) were given. Give one co-registered volume per channel (repeat --input)."
        )
    if (previous is None) != (card.previous_stage is None):
        raise SaliencyError(
            "the card's previous_stage labels are input channels: run the previous stage first "
            "(explain_image does) and give its label image as previous=, or use a card without previous_stage."
        )
    dims = {img.GetDimension() for img in images}
    if len(dims) > 1:
        raise SaliencyError("the channel images mix 2D and 3D. Give volumes of the same dimension.")
    was_2d = dims == {2}
    if was_2d and card.spatial_dims == 3:
        raise SaliencyError(
            "a 3D model (spatial_dims 3) cannot explain a 2D image. Give a 3D volume, or a "
            "card with spatial_dims 2 for a 2D model."
        )
    vols = [as_3d(img) for img in images]
    spec = card.input
    intensities = spec.intensity
    rules = [intensities[n] if len(intensities) > 1 else intensities[0] for n in range(len(vols))]
    if box is not None:  # a localiser's box (k, j, i) on the first image's voxels
        cut = [vol[box[2][0] : box[2][1], box[1][0] : box[1][1], box[0][0] : box[0][1]] for vol in vols]
        vols = cut if spec.resampling == "nnunet" else [cut[0], *vols[1:]]  # nnU-Net's channels share a grid
    if previous is not None:
        check_image(previous, "the previous stage's labels")
        previous = as_3d(previous)
        if box is not None:
            previous = previous[box[2][0] : box[2][1], box[1][0] : box[1][1], box[0][0] : box[0][1]]
    if spec.resampling == "nnunet":  # nnU-Net's index-space crop and resize (its DefaultPreprocessor)
        labels = None if previous is None else sitk.GetArrayFromImage(previous)
        values, native_box, fields = nnunet_preprocess(vols, card, rules, labels)
        if box is not None:  # the crop box on the whole image (nnU-Net's axis order), where the labels go back
            offsets = [box[axis][0] for axis in spec.transpose]
            native_box = tuple((b0 + o, b1 + o) for (b0, b1), o in zip(native_box, offsets))
        tensor = torch.from_numpy(np.ascontiguousarray(np.stack([to_layout(v, card) for v in values], axis=1)))
        return ModelInput(tensor=tensor, grid=Grid(**fields), card=card, reference=images[0], native_box=native_box)
    crop = spec.crop_foreground
    if crop is not None and crop.on == "native":
        vols[0] = crop_native(vols[0], crop, rules[0])
    grid = model_grid(vols[0], card)
    check_grid_memory(grid, card)  # before resampling allocates anything on that grid
    if uses_monai_arithmetic(spec):  # MONAI's grid, sampled and normalised in MONAI's arithmetic and order
        sampled, normalised = monai_channels(vols, rules, spec)
    else:
        sampled, normalised = _physical_channels(vols, rules, grid, spec)
    if crop is not None and crop.on == "model_grid":  # MONAI CropForegroundd after Spacingd: crop the grid
        source = normalised[0] if crop.source == "normalised" else sampled[0]
        box = crop_box(selected_voxels(source, crop), crop.margin, crop.allow_smaller)
        if box is None:
            raise SaliencyError(
                f"the card's crop_foreground selects no voxel of the model grid (select "
                f"{crop.select!r}, threshold {crop.threshold}). Check the card."
            )
        grid = _sub_grid(grid, box)
        normalised = [take_box(v, box) for v in normalised]
    channels = [to_layout(v, card) for v in normalised]
    if previous is not None:  # the previous stage's labels, nearest neighbour onto the final grid, one-hot
        labels = resample_to_grid(previous, grid, nearest=True, background=0.0)
        channels += [to_layout((labels == v).astype(np.float32), card) for v in card.previous_stage.labels]
    tensor = torch.from_numpy(np.ascontiguousarray(np.stack(channels, axis=1), dtype=np.float32))
    return ModelInput(tensor=tensor, grid=grid, card=card, reference=images[0], was_2d=was_2d)


def _physical_channels(vols, rules, grid: Grid, spec):
    """Each channel resampled onto ``grid`` through physical space and normalised (before or after, as the
    card says) -> (resampled, normalised) (k, j, i) arrays."""
    natives = vols
    if spec.intensity_on == "native":  # normalise first, then resample (nnU-Net's order)
        natives = []
        for vol, rule in zip(vols, rules):
            norm = sitk.GetImageFromArray(normalise_intensity(sitk.GetArrayFromImage(vol), rule, vol))
            norm.CopyInformation(vol)
            natives.append(norm)
    sampled = [
        resample_to_grid(vol, grid, background=_background(vol, spec), interpolation=spec.interpolation)
        for vol in natives
    ]
    if spec.intensity_on == "native":
        return sampled, sampled
    return sampled, [normalise_intensity(v, rule, vol) for v, rule, vol in zip(sampled, rules, vols)]


def mask_to_model(mask: sitk.Image, model_input: ModelInput) -> np.ndarray:
    """A segmentation-target mask on any grid -> bool (N, *spatial) on the model grid (nearest neighbour)."""
    check_image(mask, "region mask")
    if mask.GetDimension() != model_input.reference.GetDimension():
        raise SaliencyError(
            f"The region mask is {mask.GetDimension()}-D but the volume is "
            f"{model_input.reference.GetDimension()}-D; give a mask of the volume's kind (any grid)."
        )
    values = resample_to_grid(as_3d(mask), model_input.grid, nearest=True, background=0.0)
    inside = to_layout(values, model_input.card) > 0
    if not inside.any():
        raise SaliencyError(
            "The region mask has no voxel inside the model's field of view (empty, or elsewhere in "
            "space); check that it belongs to this volume and is not all zero."
        )
    return inside


def heatmap_to_native(maps: np.ndarray, model_input: ModelInput) -> sitk.Image:
    """(N, *spatial) maps on the model grid -> float32 image on the reference's OWN grid (0 outside FOV)."""
    on_grid = model_input.grid.image(from_layout(maps, model_input.card))
    return _onto_reference(on_grid, model_input, sitk.sitkLinear, sitk.sitkFloat32)


def _onto_reference(on_grid: sitk.Image, model_input: ModelInput, interpolator, pixel) -> sitk.Image:
    """The one resampling back: model grid -> the reference's own grid through physical space (0 outside)."""
    out = sitk.Resample(on_grid, as_3d(model_input.reference), sitk.Transform(), interpolator, 0, pixel)
    if model_input.was_2d:
        out = out[:, :, 0]
    # copy the geometry verbatim (not recomputed) so it equals the input's bit for bit
    out.SetOrigin(model_input.reference.GetOrigin())
    out.SetSpacing(model_input.reference.GetSpacing())
    out.SetDirection(model_input.reference.GetDirection())
    return out


def labels_to_native(labels: np.ndarray, model_input: ModelInput) -> sitk.Image:
    """(N, *spatial) integer labels on the model grid -> a label image (UInt8, UInt16 beyond 255 classes) on
    the reference's OWN grid, by nearest neighbour through the same geometry as the heatmap (0 outside
    the model's field of view)."""
    labels = np.asarray(labels)
    pixel = sitk.sitkUInt8 if labels.size == 0 or int(labels.max()) <= 255 else sitk.sitkUInt16
    on_grid = sitk.Cast(model_input.grid.image(from_layout(labels, model_input.card)), pixel)
    return _onto_reference(on_grid, model_input, sitk.sitkNearestNeighbor, pixel)


def peak_lps(image: sitk.Image) -> np.ndarray | None:
    """Physical (LPS) point of the image's maximum voxel, or None for an all-zero map."""
    arr = sitk.GetArrayViewFromImage(image)
    if arr.size == 0 or not np.any(arr > 0):
        return None
    idx = np.unravel_index(int(np.argmax(arr)), arr.shape)[::-1]
    return np.asarray(image.TransformIndexToPhysicalPoint([int(i) for i in idx]))


def ras_from_lps(points) -> np.ndarray | None:
    """LPS point(s) (..., 2 or 3) -> RAS: the first two axes change sign (its own inverse: also RAS -> LPS)."""
    if points is None:
        return None
    points = np.asarray(points, dtype=float)
    return points * np.array([-1.0, -1.0, 1.0])[: points.shape[-1]]


lps_from_ras = ras_from_lps  # the same sign flip both ways
