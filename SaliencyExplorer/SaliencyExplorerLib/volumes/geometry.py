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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..card import ModelCard
from ..core.resources import check_memory
from ..errors import SaliencyError
from .cropping import crop_box, crop_native, selected_voxels, take_box
from .intensity import normalise_intensity, value_range
from .monai_grid import orient, spacing_grid
from .nnunet_resampling import preprocess as nnunet_preprocess

LPS_AXIS = {
    "L": (1.0, 0.0, 0.0),
    "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "I": (0.0, 0.0, -1.0),
}
SLICE_AXIS = {"i": 0, "j": 1, "k": 2}


@dataclass(frozen=True)
class Grid:
    """A 3D sampling grid in LPS space, in SimpleITK's conventions (size/spacing in i, j, k order)."""

    size: tuple
    spacing: tuple
    origin: tuple
    direction: tuple  # row-major 3x3; columns are the physical i, j, k axes

    @classmethod
    def of(cls, image: sitk.Image) -> "Grid":
        return cls(
            tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()), tuple(image.GetDirection())
        )

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def image(self, array_kji: np.ndarray | None = None) -> sitk.Image:
        """A float32 image on this grid: zeros, or the given (k, j, i) array."""
        if array_kji is None:
            img = sitk.Image([int(n) for n in self.size], sitk.sitkFloat32)
        else:
            img = sitk.GetImageFromArray(np.ascontiguousarray(array_kji, dtype=np.float32))
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    def center(self) -> np.ndarray:
        """Physical centre of the grid's extent (the middle voxel centre for odd sizes)."""
        half = (np.asarray(self.size, float) - 1) * np.asarray(self.spacing, float) / 2
        return np.asarray(self.origin, float) + self.matrix @ half

    def corners(self) -> np.ndarray:
        """The 8 outer corners of the voxel extent (index -0.5 and size - 0.5), as LPS points (8, 3)."""
        lo, hi = -0.5, np.asarray(self.size, float) - 0.5
        idx = np.array(
            [
                [hi[0] if a else lo, hi[1] if b else lo, hi[2] if c else lo]
                for a in (0, 1)
                for b in (0, 1)
                for c in (0, 1)
            ]
        )
        return np.asarray(self.origin, float) + (idx * np.asarray(self.spacing, float)) @ self.matrix.T


def orientation_matrix(code: str) -> np.ndarray:
    """3x3 whose columns are the LPS unit vectors of model axes i, j, k for an anatomical code ("RAS")."""
    return np.array([LPS_AXIS[c] for c in code.upper()]).T


# ---------------------------------------------------------------- input checks and 2D images
def check_image(image, what="input image") -> None:
    """Only scalar 2D/3D images are explained; anything else is refused with the fix."""
    if not isinstance(image, sitk.Image):
        raise SaliencyError(
            f"{what} must be a SimpleITK image, got {type(image).__name__}. Read it with "
            "SaliencyExplorerLib.volumes.image_files.read_image()."
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise SaliencyError(
            f"{what} is a vector image ({image.GetNumberOfComponentsPerPixel()} components per "
            "voxel). Give one scalar volume per channel (repeat --input)."
        )
    if image.GetDimension() not in (2, 3):
        raise SaliencyError(
            f"{what} has {image.GetDimension()} dimensions; only 2D and 3D images can be "
            "explained. Split a 4-D series into 3D volumes (one per time point or channel)."
        )


def as_3d(image: sitk.Image) -> sitk.Image:
    """A 2D image as a one-slice 3D volume (third axis +S, 1 mm), so one code path serves both."""
    if image.GetDimension() == 3:
        return image
    vol = sitk.JoinSeries(image)
    d2 = np.asarray(image.GetDirection()).reshape(2, 2)
    d3 = np.eye(3)
    d3[:2, :2] = d2
    vol.SetDirection(tuple(d3.ravel()))
    vol.SetOrigin((*image.GetOrigin(), 0.0))
    vol.SetSpacing((*image.GetSpacing(), 1.0))
    return vol


# ---------------------------------------------------------------- the model grid
def _foreground_center(image: sitk.Image, threshold: float) -> np.ndarray:
    """Physical centroid of the voxels above ``threshold``, from marginal sums (no per-voxel point array)."""
    above = sitk.GetArrayViewFromImage(image) > threshold  # (k, j, i)
    count = int(above.sum())
    if count == 0:
        raise SaliencyError(
            f"no voxel is above the card's foreground threshold {threshold} (the volume's "
            f'range is {value_range(image)}). Lower input.center.foreground or use "image".'
        )
    mean_idx = []
    for axis in (2, 1, 0):  # i, j, k
        other = tuple(a for a in range(3) if a != axis)
        profile = above.sum(axis=other)
        mean_idx.append(float(profile @ np.arange(profile.size)) / count)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(mean_idx))


def nearest_axes(native: np.ndarray, code: str) -> np.ndarray:
    """The volume's own axes (columns of ``native``) permuted and flipped to be closest to ``code``.

    As MONAI's ``Orientation`` (nibabel's ``io_orientation``/``ornt_transform``): no rotation, so an oblique
    volume stays oblique; each volume axis in turn takes the anatomical axis it is most aligned with.
    """
    ras = np.diag([-1.0, -1.0, 1.0]) @ native
    affine = np.eye(4)
    affine[:3, :3] = ras
    _, _, axes = orient(affine, (2, 2, 2), code)
    return np.stack([native[:, a] * (-1.0 if flipped else 1.0) for a, flipped in axes], axis=1)


def model_grid(image: sitk.Image, card: ModelCard) -> Grid:
    """The model's input grid in LPS space for ``image`` (3D) and the card's ``input`` section.

    Orientation: the card's code (exact axes, or with ``reorient: "axes"`` the volume's own axes permuted
    and flipped towards it), else the volume's own axes. Spacing per axis: the card's, else the native
    spacing of the volume axis most aligned with it. ``fit``: "center" (centre: the extent's centre or the
    foreground centroid; size: the card's, else enough voxels to cover the volume from that centre),
    "extent" (the grid spans the volume's voxel extent edge to edge: size the card's or round(extent /
    spacing), spacing = extent / size; as nnU-Net's and MONAI ``Resized``'s index-space resize) or
    "first_voxel" (MONAI ``Spacingd`` after ``Orientationd``, computed as MONAI does in
    :mod:`.monai_grid`: origin at the first voxel centre when MONAI keeps it, else centred as MONAI
    centres; size round((n - 1) x native spacing / spacing + 1) with MONAI's rounding).
    """
    spec = card.input
    native = Grid.of(image)
    if spec.orientation and spec.reorient == "axes":
        direction = nearest_axes(native.matrix, spec.orientation)
    else:
        direction = orientation_matrix(spec.orientation) if spec.orientation else native.matrix
    alignment = np.abs(native.matrix.T @ direction)  # [native axis, model axis]
    partner = [int(np.argmax(alignment[:, m])) for m in range(3)]  # native axis most aligned with each model axis
    spacing = []
    for m in range(3):
        given = spec.spacing[m] if spec.spacing else None
        spacing.append(float(given) if given is not None else float(native.spacing[partner[m]]))
    spacing = np.asarray(spacing)
    if spec.fit == "first_voxel" and (not spec.orientation or spec.reorient == "axes"):
        # MONAI Orientationd + Spacingd, computed as MONAI computes it (volumes/monai_grid.py)
        return Grid(*spacing_grid(image, spec.orientation, spec.spacing or (None, None, None), spec.size))
    if spec.fit != "center":
        return _fitted_grid(native, direction, spacing, partner, spec)
    if spec.center == "image":
        center = native.center()
    else:
        center = _foreground_center(image, spec.center[1])
    reach = np.abs((native.corners() - center) @ direction).max(axis=0)  # half-extent along each model axis
    size = []
    for m in range(3):
        given = spec.size[m] if spec.size else None
        size.append(int(given) if given is not None else max(1, int(np.ceil(2 * reach[m] / spacing[m] - 1e-6))))
    size = np.asarray(size)
    origin = center - direction @ ((size - 1) * spacing / 2)
    return Grid(
        tuple(int(n) for n in size),
        tuple(float(s) for s in spacing),
        tuple(float(o) for o in origin),
        tuple(float(v) for v in direction.ravel()),
    )


def _fitted_grid(native: Grid, direction, spacing, partner, spec) -> Grid:
    """The "extent" and "first_voxel" grids (see :func:`model_grid`), axis by axis along the partner axes."""
    n = np.asarray([native.size[a] for a in partner], dtype=float)
    s_native = np.asarray([native.spacing[a] for a in partner], dtype=float)
    given = [spec.size[m] if spec.size else None for m in range(3)]
    if spec.fit == "extent":
        extent = n * s_native
        size = np.asarray(
            [int(g) if g is not None else max(1, int(round(extent[m] / spacing[m]))) for m, g in enumerate(given)]
        )
        spacing = extent / size
        origin = native.center() - direction @ ((size - 1) * spacing / 2)
    else:  # first_voxel
        size = np.asarray(
            [
                int(g) if g is not None else max(1, int(np.round((n[m] - 1) * s_native[m] / spacing[m] + 1)))
                for m, g in enumerate(given)
            ]
        )
        first = [0.0 if native.matrix[:, partner[m]] @ direction[:, m] >= 0 else n[m] - 1 for m in range(3)]
        index = [0.0, 0.0, 0.0]
        for m in range(3):
            index[partner[m]] = first[m]
        origin = np.asarray(native.origin, float) + native.matrix @ (
            np.asarray(index) * np.asarray(native.spacing, float)
        )
    return Grid(
        tuple(int(v) for v in size),
        tuple(float(v) for v in spacing),
        tuple(float(o) for o in origin),
        tuple(float(v) for v in direction.ravel()),
    )


def _sub_grid(grid: Grid, box) -> Grid:
    """The part of ``grid`` inside ``box`` ((start, stop) per k, j, i axis)."""
    start_ijk = np.asarray([box[2][0], box[1][0], box[0][0]], dtype=float)
    size = tuple(int(b[1] - b[0]) for b in box[::-1])
    origin = np.asarray(grid.origin, float) + grid.matrix @ (start_ijk * np.asarray(grid.spacing, float))
    return Grid(size, grid.spacing, tuple(float(o) for o in origin), grid.direction)


# ---------------------------------------------------------------- tensor layout
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


def _background(image: sitk.Image, spec):
    if spec.background == "edge":
        return "edge"
    return float(value_range(image)[0]) if spec.background == "min" else float(spec.background)


def edge_padded(image: sitk.Image, grid: Grid) -> sitk.Image:
    """``image`` extended by replicating its edge voxels far enough to cover ``grid`` (MONAI's "border")."""
    inv = np.linalg.inv(Grid.of(image).matrix * np.asarray(image.GetSpacing(), float))
    idx = (grid.corners() - np.asarray(image.GetOrigin(), float)) @ inv.T  # continuous native indices
    below = np.maximum(np.ceil(-idx.min(axis=0)), 0).astype(int) + 1
    above = np.maximum(np.ceil(idx.max(axis=0) - (np.asarray(image.GetSize()) - 1)), 0).astype(int) + 1
    return sitk.ZeroFluxNeumannPad(sitk.Cast(image, sitk.sitkFloat32), [int(v) for v in below], [int(v) for v in above])


INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "nearest": sitk.sitkNearestNeighbor}


def resample_to_grid(
    image: sitk.Image, grid: Grid, *, nearest=False, background=0.0, interpolation="linear", monai_zeros=False
) -> np.ndarray:
    """``image`` sampled on ``grid`` through physical space -> float32 (k, j, i) array. ``background``: the
    value outside the volume, or "edge" (the nearest edge voxel's value, MONAI's padding_mode "border");
    ``monai_zeros``: a numeric background as MONAI's padding_mode "zeros" (linear towards it past the edge)."""
    if isinstance(background, str):  # "edge"
        image, background = edge_padded(image, grid), 0.0
    elif monai_zeros:  # torch grid_sample "zeros": the half voxel past the edge blends towards the background
        image = sitk.ConstantPad(sitk.Cast(image, sitk.sitkFloat32), [1] * 3, [1] * 3, float(background))
    interp = sitk.sitkNearestNeighbor if nearest else INTERPOLATORS[interpolation]
    if interp == sitk.sitkBSpline:
        return _bspline_to_grid(image, grid, background)
    out = sitk.Resample(image, grid.image(), sitk.Transform(), interp, float(background), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def check_grid_memory(grid: Grid, card: ModelCard, batch: int = 1) -> None:
    """Refuse a model grid (card ``input.size``, or ``input.spacing`` over the volume's extent) too big for
    the free memory, before any array is made; the message names the grid, the numbers and the fix."""

    voxels = int(np.prod([int(n) for n in grid.size], dtype=object))
    fix = "fix input.size / input.spacing in the card (a larger spacing or a smaller size)" + (
        ", or use a smaller --batch-size" if batch > 1 else ""
    )
    what = (
        f"the model grid {' x '.join(str(n) for n in grid.size)} voxels at spacing "
        f"{', '.join(f'{s:g}' for s in grid.spacing)} mm" + (f" with batch {batch}" if batch > 1 else "")
    )
    if voxels > 2**34:  # beyond any machine: also where numpy's shapes overflow
        raise SaliencyError(f"{what} has {voxels:.3g} voxels, far more than any memory holds; {fix}.")
    # float64 resampling + float32 tensor per channel, and the model's activations (several copies)
    check_memory(voxels * max(1, card.in_channels) * 4 * 6 * max(1, batch), what, fix)


SPLINE_PAD = 12  # scipy pads this much (mode "nearest") before its mirror-boundary spline prefilter


def _bspline_to_grid(image: sitk.Image, grid: Grid, background: float) -> np.ndarray:
    """Cubic B-spline sampling with scipy's ``mode="nearest"`` border (``ndimage.zoom``/``map_coordinates``,
    hence nnU-Net's and skimage's order-3 resize): the volume is extended by replicating its edge voxels
    12 deep, then ITK's B-spline (mirror-boundary prefilter, as scipy's after its padding) samples it, and the
    result is clipped to the volume's value range (skimage's ``resize(clip=True)``: no overshoot); grid
    points beyond the volume's voxel extent still get ``background``."""
    pad = [SPLINE_PAD] * 3
    padded = sitk.ZeroFluxNeumannPad(sitk.Cast(image, sitk.sitkFloat32), pad, pad)
    out = sitk.GetArrayFromImage(
        sitk.Resample(padded, grid.image(), sitk.Transform(), sitk.sitkBSpline, float(background), sitk.sitkFloat32)
    )
    ones = sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(image)
    inside = (
        sitk.GetArrayFromImage(
            sitk.Resample(ones, grid.image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        )
        > 0
    )
    low, high = value_range(image)
    return np.where(inside, np.clip(out, low, high), np.float32(background)).astype(np.float32)


def to_model(images, card: ModelCard, box=None):
    """Source image(s) (one per channel, co-registered in physical space) -> :class:`ModelInput`. ``box``
    ((start, stop) per k, j, i voxel axis of the first image, e.g. from a localiser) crops it first; the map
    still goes back to the whole image."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    images = list(images) if isinstance(images, (list, tuple)) else [images]
    if not images:
        raise SaliencyError("no input image was given. Give one image per model input channel.")
    for n, img in enumerate(images):
        check_image(img, f"input image {n + 1}")
    if len(images) != card.in_channels:
        raise SaliencyError(
            f"the model card says in_channels={card.in_channels} but {len(images)} image(s) "
            f"were given. Give one co-registered volume per channel (repeat --input)."
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
    if spec.resampling == "nnunet":  # nnU-Net's index-space crop and resize (its DefaultPreprocessor)
        values, native_box, fields = nnunet_preprocess(vols, card, rules)
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
    natives = vols
    if spec.intensity_on == "native":  # normalise first, then resample (nnU-Net's order)
        natives = []
        for vol, rule in zip(vols, rules):
            norm = sitk.GetImageFromArray(normalise_intensity(sitk.GetArrayFromImage(vol), rule, vol))
            norm.CopyInformation(vol)
            natives.append(norm)
    sampled = [
        resample_to_grid(
            vol,
            grid,
            background=_background(vol, spec),
            interpolation=spec.interpolation,
            monai_zeros=spec.fit == "first_voxel" and spec.interpolation == "linear",
        )
        for vol in natives
    ]
    if spec.intensity_on == "model_grid":
        normalised = [normalise_intensity(v, rule, vol) for v, rule, vol in zip(sampled, rules, vols)]
    else:
        normalised = sampled
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
    tensor = torch.from_numpy(np.ascontiguousarray(np.stack(channels, axis=1), dtype=np.float32))
    return ModelInput(tensor=tensor, grid=grid, card=card, reference=images[0], was_2d=was_2d)


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
