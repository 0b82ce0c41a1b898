"""What a model card holds: the typed, immutable specs (input grid, intensity, output, inference) and the
vocabularies each field may take. ``parsing`` fills them from JSON, ``to_json`` writes them back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CardError

TASKS = ("classification", "segmentation")
ARRAY_ORDERS = ("xyz", "zyx")
ACTIVATIONS = ("auto", "softmax", "sigmoid", "none")
SLICE_AXES = ("i", "j", "k")
AXIS_PAIRS = ({"R", "L"}, {"A", "P"}, {"S", "I"})
INFERENCE_MODES = ("whole", "sliding_window")
BLEND_MODES = ("constant", "gaussian")
PADDING_MODES = ("constant", "reflect", "replicate", "circular")
TILINGS = ("monai", "nnunet")
REORIENT_MODES = ("resample", "axes")
FIT_MODES = ("center", "extent", "first_voxel")
STAGES = ("model_grid", "native")
INTERPOLATIONS = ("linear", "bspline", "nearest")
RESAMPLINGS = ("physical", "nnunet")
READERS = ("auto", "itk")  # MONAI LoadImage: its default pick per file (nibabel, pynrrd), or ITKReader
CROP_SELECT = ("positive", "nonzero")
CROP_SOURCES = ("raw", "normalised")
SMOOTH_KERNELS = ("erf", "sampled")  # MONAI GaussianSmooth's default; scipy.ndimage.gaussian_filter's
SMOOTH_EDGES = ("zeros", "nearest")  # MONAI GaussianSmooth pads zeros; scipy mode="nearest" repeats the edge
RESAMPLE_BACK = ("auto", "labels", "logits", "probabilities")  # what goes back to the native grid (Invertd)
# intensity chain steps: name -> (allowed fields, required fields); a list form is allowed for clip_percentiles
STEP_FIELDS = {
    "window": ({"min", "max"}, {"min", "max"}),
    "clip": ({"min", "max"}, set()),
    "clip_percentiles": ({"lower", "upper"}, {"lower", "upper"}),
    "zscore": ({"mean", "std", "nonzero", "mask"}, set()),  # nonzero: MONAI NormalizeIntensityd(nonzero=True)
    "scale": ({"a", "b"}, set()),
    "range": ({"a_min", "a_max", "b_min", "b_max", "clip"}, {"a_min", "a_max"}),
    "range_percentiles": ({"lower", "upper", "b_min", "b_max", "clip", "relative"}, {"lower", "upper"}),
}
ZSCORE_MASKS = ("nnunet_nonzero",)  # zscore mask: nnU-Net's use_mask_for_norm (hole-filled non-zero of all channels)
SCHEMA_PATH = Path(__file__).with_name("card_schema.json")  # JSON Schema for editors (docs/model-card.md)
PROBE_SIZE = 64  # voxels per axis the card leaves open, when a layer table or a check needs a concrete input


@dataclass(frozen=True)
class Intensity:
    """How raw voxel values become model input: window (to [0, 1], clipped), zscore, scale (a*x+b), none."""

    type: str = "none"
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    a: float = 1.0
    b: float = 0.0


@dataclass(frozen=True)
class IntensityStep:
    """One step of an intensity chain: ``op`` (a key of ``STEP_FIELDS``) and its numeric/bool fields."""

    op: str
    params: tuple = ()  # sorted (name, value) pairs

    def get(self, name, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class IntensityChain:
    """Intensity steps applied in order (``[{"clip_percentiles": ...}, {"zscore": {}}, {"scale": ...}]``).
    Statistics (percentiles, a zscore without mean/std) come from the values the chain is applied to."""

    steps: tuple = ()


@dataclass(frozen=True)
class CropSpec:
    """Crop the grid to the bounding box of the foreground (MONAI ``CropForegroundd``, nnU-Net's nonzero crop).

    ``select``: "positive" (value > threshold) or "nonzero" (value != 0); ``margin``: voxels per axis (i, j, k)
    added around the box; ``allow_smaller`` (MONAI's name): true clamps the grown box to the grid, false lets
    it reach past the edge, padded with 0 (MONAI's default, false, pads; the card's default clamps);
    ``on``: the grid that is cropped ("model_grid" after resampling, or "native" before it); ``source``:
    whether the selection sees raw or normalised values.
    """

    select: str = "positive"
    threshold: float = 0.0
    margin: tuple = (0, 0, 0)
    on: str = "model_grid"
    source: str = "raw"
    allow_smaller: bool = True


@dataclass(frozen=True)
class InputSpec:
    """The model grid. ``None`` in spacing/size (or per axis) means "take it from the volume"."""

    orientation: str | None = None
    array_order: str = "xyz"
    spacing: tuple | None = None
    size: tuple | None = None
    center: object = "image"  # "image" or ("foreground", threshold)
    intensity: tuple = (Intensity(),)  # one per channel, or one for all
    slice_axis: str = "k"
    background: object = "min"  # "min" (the volume's minimum), "edge" (nearest edge voxel), or a number (raw)
    reorient: str = "resample"  # "resample": exact axes of `orientation`; "axes": the volume's axes permuted/flipped
    fit: str = "center"  # "center", "extent" (edge-aligned to the volume's extent), "first_voxel" (MONAI Spacingd)
    crop_foreground: CropSpec | None = None
    intensity_on: str = "model_grid"  # "model_grid" (after resampling) or "native" (before it, as nnU-Net)
    interpolation: str = "linear"  # "linear", "bspline" (cubic B-spline, order 3), "nearest"
    # "physical": one resampling through patient space; "nnunet": nnU-Net's index-space resize of the non-zero box
    # (skimage orders, the low-res axis alone with order 0 when spacing is anisotropic > 3) both ways, labels
    # taken on the native grid from the logits resampled linearly (volumes/nnunet_resampling.py)
    resampling: str = "physical"
    transpose: tuple = (0, 1, 2)  # resampling "nnunet": nnU-Net's transpose_forward of the (k, j, i) array axes
    # fit "first_voxel": the affine MONAI's LoadImage builds, whose last bits place its grid ("auto": the reader
    # LoadImage picks for the file, nibabel for NIfTI, pynrrd for NRRD; "itk": LoadImage(reader="ITKReader"))
    reader: str = "auto"


@dataclass(frozen=True)
class SmoothSpec:
    """A Gaussian blur of the output (logits) on the model grid before the prediction is taken: ``sigma`` in
    voxels per tensor axis; ``kernel`` "erf" and ``edges`` "zeros" are MONAI's ``GaussianSmooth``, "sampled"
    and "nearest" are ``scipy.ndimage.gaussian_filter(mode="nearest")``; both truncate at 4 sigma."""

    sigma: tuple = (1.0,)
    kernel: str = "erf"
    edges: str = "zeros"


@dataclass(frozen=True)
class OutputSpec:
    r"""What the model's output means: its activation (``auto``, softmax, sigmoid, none) and, for a
    tuple/dict output, which element is explained (``key``); and how the prediction (the model's own answer,
    ``--prediction-output``) is made from it, as a bundle's postprocessing does: ``smooth`` the logits
    (GaussianSmoothd), bring ``resample`` back to the native grid ("probabilities" or "logits" each class, as
    ``Invertd(nearest_interp=False)`` or nnU-Net; "labels" by nearest neighbour; "auto" the framework's order,
    ``volumes.native_labels``), ``threshold`` sigmoid channels
    (``AsDiscreted(threshold=)``; softmax: the argmax), keep each class's ``largest_component``
    (``KeepLargestConnectedComponentd``, full connectivity). Several sigmoid channels are multi-label (MONAI's
    BraTS bundle, nnU-Net's region-based training): each channel is its own yes/no, the region explained for a
    class is its channel above the threshold, and the label image draws ``region_labels`` (one label per
    channel, later over earlier: nnU-Net's ``regions_class_order``; default 1..K) where each is above it."""

    activation: str = "auto"
    key: object = None
    threshold: float = 0.5
    smooth: SmoothSpec | None = None
    resample: str = "auto"
    largest_component: bool = False
    region_labels: tuple | None = None


@dataclass(frozen=True)
class InferenceSpec:
    """How the model runs on a whole grid, in MONAI's terms (``monai.inferers.sliding_window_inference``).

    "whole": one pass on the model grid. "sliding_window": the grid is padded to at least one window,
    tiled by ``roi_size`` windows (tensor axis order) overlapping by ``overlap``, and the windows' outputs
    are averaged with a ``blend`` importance map; explanations then explain that blended output.
    """

    mode: str = "whole"
    roi_size: tuple | None = None
    overlap: tuple = (0.25,)  # one value for every axis, or one per axis
    blend: str = "constant"
    sigma_scale: tuple = (0.125,)
    padding_mode: str = "constant"
    cval: float = 0.0
    sw_batch_size: int = 1
    tiling: str = "monai"  # "monai": MONAI's window starts and Gaussian; "nnunet": nnU-Net's
    mirror_axes: tuple = ()  # test-time mirroring (nnU-Net's default): the mean over every flip of these tensor axes

    @property
    def sliding(self) -> bool:
        return self.mode == "sliding_window"


@dataclass(frozen=True)
class LocaliserSpec:
    """A first model whose prediction places the box the explained model sees, as deepbet's two stages and
    nnU-Net's cascades run: ``model`` (a file; relative paths are beside the card) with its own ``card`` runs
    on the volume; the bounding box of its predicted ``label`` (None: any foreground) on the volume's grid is
    grown about its centre to ``(1 + 2 * box_margin)`` times its size (deepbet: 0.1), clamped to the volume,
    and the volume is cropped to it before the explained model's grid is built."""

    model: str
    card: "ModelCard"
    label: int | None = None
    box_margin: float = 0.0


@dataclass(frozen=True)
class PreviousStageSpec:
    """A cascade's first stage (nnU-Net's ``previous_stage``): ``model`` (a file or folder; relative paths are
    beside the card) with its own ``card`` (None: the one a folder derives) predicts on the volume, as its own
    prediction is made (windows, mirroring, postprocessing); its label image becomes one input channel per
    ``labels`` value (one-hot), after the image channels, brought to the model grid as nnU-Net brings a
    segmentation (``input.resampling: "nnunet"``) or by nearest neighbour. ``in_channels`` counts them."""

    model: str
    card: "ModelCard | None"
    labels: tuple


@dataclass(frozen=True)
class ModelCard:
    r"""How a model sees a volume, parsed strictly from JSON (``parse_card``/``load_card``): task, spatial dims,
    channels, classes, the input grid (``input``), the output's meaning (``output``), the default target
    layer and, for state dicts, the architecture. Immutable; ``path`` is where it was read from."""

    name: str = "unnamed model"
    description: str = ""
    version: object = None
    task: str = "classification"
    spatial_dims: int = 3
    in_channels: int = 1
    classes: tuple | None = None
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    target_layer: object = None  # None, a name, or a tuple of names
    architecture: dict | None = None
    weights: str | None = None
    localiser: LocaliserSpec | None = None  # a first model that places the box this one sees
    previous_stage: PreviousStageSpec | None = None  # a first model whose labels are extra input channels
    path: str | None = None  # where the card was read from (for relative architecture files)

    @property
    def image_channels(self) -> int:
        """How many volumes the model takes: ``in_channels`` less a previous stage's label channels."""
        return self.in_channels - (len(self.previous_stage.labels) if self.previous_stage is not None else 0)

    def class_index(self, target) -> int:
        """A class given as an index or a name (case-insensitive) -> its index."""
        if isinstance(target, int) and not isinstance(target, bool):
            return target
        text = str(target).strip()
        if text.lstrip("-").isdigit():
            return int(text)
        names = [c.lower() for c in (self.classes or ())]
        if text.lower() in names:
            return names.index(text.lower())
        known = ", ".join(repr(c) for c in self.classes or ()) or "none (the card lists no classes)"
        raise CardError(f"target {target!r} is neither a class index nor a class name; known classes: {known}")

    def input_shape(self, default: int | None = PROBE_SIZE) -> tuple[int, ...] | None:
        """``(1, C, *spatial)`` the card promises the model, in its tensor (``array_order``) order.

        Axes the card leaves open get ``default`` voxels; ``default=None`` returns None instead (the card
        promises no size, so there is nothing to check the model against).
        """
        given = list(self.input.size or (None,) * 3)
        if self.spatial_dims == 2 and len(given) == 3:
            del given[SLICE_AXES.index(self.input.slice_axis)]
        if default is None and any(n is None for n in given):
            return None
        spatial = [default if n is None else int(n) for n in given]
        if self.input.array_order == "zyx":
            spatial = spatial[::-1]
        return (1, self.in_channels, *spatial)

    def class_name(self, index) -> str | None:
        if self.classes and index is not None and 0 <= index < len(self.classes):
            return self.classes[index]
        return None
