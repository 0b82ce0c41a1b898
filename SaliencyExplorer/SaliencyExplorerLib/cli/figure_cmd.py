"""`figure`: a PNG montage, a single-slice PNG or an animated GIF of a heatmap file over its image file.

The heatmap is brought onto the image's grid through physical space when the grids differ, then both are
turned to LPI order (axial slices with anterior up and patient left on the right, coronal and sagittal
with superior up), so the pictures look the way radiologists expect whatever the files' orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from ..figures import annotate, pictures
from ..output_files import clash_message, find_clash
from ..volumes.image_files import read_image
from .vocabulary import ANY_NUMBER, COLUMNS, EVERY, FRAME_MS, OPACITY, SLICE, ZOOM, OrderedPair

AXES = {"axial": 0, "coronal": 1, "sagittal": 2}  # array axis of an LPI-oriented (k, j, i) volume


def same_grid(a, b, tolerance: float = 1e-4) -> bool:

    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance)
    )


def onto_grid(image, reference, nearest: bool = False):
    """`image` resampled onto `reference`'s grid through physical space (0 outside), float32 or label."""

    if image.GetDimension() != reference.GetDimension():
        raise SaliencyError(
            f"A {image.GetDimension()}D image cannot be placed on a {reference.GetDimension()}D image's grid; "
            f"give files of the same dimension."
        )
    if same_grid(image, reference):
        return image
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    pixel = image.GetPixelID() if nearest else sitk.sitkFloat32
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, pixel)


def display_geometry(image) -> annotate.Geometry | None:
    """Where the display arrays of ``display_arrays(image, ...)`` lie (3D: LPI-oriented), for orientation
    letters and slice positions in mm; None for 2D."""
    if image.GetDimension() != 3:
        return None
    return annotate.Geometry.of(sitk.DICOMOrient(image, "LPI"))


def region_array(region, image, label: int | None = None):
    """A label file's voxels (of ``label``, else any non-zero) as a bool array on ``image``'s display grid
    (nearest neighbour through physical space, LPI-oriented for 3D)."""
    if region.GetNumberOfComponentsPerPixel() != 1:
        raise SaliencyError("The region file has several components per voxel; give a label volume.")
    on_grid = onto_grid(sitk.Cast(region, sitk.sitkInt32), image, nearest=True)
    if image.GetDimension() == 3:
        on_grid = sitk.DICOMOrient(on_grid, "LPI")
    values = sitk.GetArrayFromImage(on_grid)
    return values == label if label is not None else values != 0


def display_arrays(image, heatmap):
    """(image array, heatmap array, spacing in array order), LPI-oriented for 3D."""

    heat = onto_grid(
        sitk.Cast(heatmap, sitk.sitkFloat32) if heatmap.GetNumberOfComponentsPerPixel() == 1 else heatmap, image
    )
    if heat.GetNumberOfComponentsPerPixel() != 1:
        raise SaliencyError("The heatmap file has several components per voxel; give a scalar heatmap.")
    if image.GetDimension() == 3:
        image, heat = sitk.DICOMOrient(image, "LPI"), sitk.DICOMOrient(heat, "LPI")
    spacing = tuple(reversed(image.GetSpacing()))
    return sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(heat), spacing


def axis_index(value: str) -> int:
    value = str(value).lower()
    if value in AXES:
        return AXES[value]
    if value in ("0", "1", "2"):
        return int(value)
    raise SaliencyError(f"--axis must be axial, coronal, sagittal or 0/1/2, not {value!r}.")


def add_style_arguments(parser) -> None:
    """Options shared by `figure` and `evaluate --figure`."""
    parser.add_argument("--axis", default="axial", help="slicing direction: axial | coronal | sagittal (or 0/1/2)")
    parser.add_argument("--cmap", default="turbo", help="any matplotlib colour map (default: turbo)")
    parser.add_argument("--alpha", type=OPACITY, default=0.5, help="heatmap opacity in [0, 1] (default 0.5)")
    parser.add_argument("--threshold", type=ANY_NUMBER, default=None, help="do not draw heat below this value")
    parser.add_argument(
        "--window",
        type=ANY_NUMBER,
        nargs=2,
        action=OrderedPair,
        metavar=("LOW", "HIGH"),
        default=None,
        help="background window (default: 1st-99th percentile of the foreground)",
    )
    parser.add_argument(
        "--heat-range",
        type=ANY_NUMBER,
        nargs=2,
        action=OrderedPair,
        metavar=("LOW", "HIGH"),
        default=None,
        help="values at the colour map's ends (default: [0, 1] or the map's range)",
    )
    parser.add_argument(
        "--zoom",
        type=ZOOM,
        default=None,
        help="pixels per voxel (default: a slice at least 520 px wide, montage tiles >= 192 px)",
    )


def style_options(args) -> dict:
    return {
        "cmap": args.cmap,
        "alpha": args.alpha,
        "threshold": args.threshold,
        "window": args.window,
        "heat_range": args.heat_range,
        "zoom": args.zoom,
    }


#: Default size of a slice in a figure: with the colour bar, a picture at least 600 pixels wide.
FIGURE_WIDTH_PX = 520


def write_figure(
    path, image_array, heat_array, spacing, kind: str, args, *, title: str | None = None, region=None, geometry=None
) -> str:
    """Write a montage / slice PNG or a GIF; `kind` 'auto' picks GIF for a .gif path.

    ``title`` (None: no title band), ``region`` (bool array on the display grid: outlined) and ``geometry``
    (``display_geometry``: orientation letters, slice positions in mm) annotate the picture."""

    path = Path(path)
    kind = ("gif" if path.suffix.lower() == ".gif" else "montage") if kind == "auto" else kind
    style = {**style_options(args), "spacing": spacing}
    axis = axis_index(args.axis)
    if getattr(args, "no_title", False):
        title = None
    notes = {"title": title, "region": region, "geometry": geometry}
    if path.parent and not path.parent.exists():
        raise SaliencyError(f"The output folder {path.parent} does not exist; create it first.")
    if kind == "gif":
        return pictures.save_gif(
            path,
            image_array,
            heat_array,
            axis=axis,
            every=args.every or 1,
            duration_ms=args.duration_ms,
            labels=not args.no_labels,
            colorbar=not args.no_colorbar,
            tile_px=FIGURE_WIDTH_PX,
            **notes,
            **style,
        )
    if kind == "slice":
        return pictures.save_slice(
            path,
            image_array,
            heat_array,
            axis=axis,
            index=args.slice,
            colorbar=not args.no_colorbar,
            labels=not args.no_labels,
            tile_px=FIGURE_WIDTH_PX,
            **notes,
            **style,
        )
    if kind == "montage":
        count = heat_array.shape[axis] if heat_array.ndim == 3 else 1
        shown = len(pictures.montage_indices(count, args.every))
        columns = args.columns or int(np.ceil(np.sqrt(shown)))
        tile = max(192, int(np.ceil(FIGURE_WIDTH_PX / max(1, min(columns, shown)))))
        return pictures.save_montage(
            path,
            image_array,
            heat_array,
            axis=axis,
            every=args.every,
            columns=args.columns,
            colorbar=not args.no_colorbar,
            labels=not args.no_labels,
            tile_px=tile,
            **notes,
            **style,
        )
    raise SaliencyError(f"--kind must be montage, slice or gif, not {kind!r}.")


def add_layout_arguments(parser) -> None:
    parser.add_argument(
        "--kind",
        default="auto",
        choices=["auto", "montage", "slice", "gif"],
        help="picture type (default: gif for a .gif output, else montage)",
    )
    parser.add_argument(
        "--every",
        type=EVERY,
        default=None,
        help="show every n-th slice (default: montage at most 16 tiles, GIF every slice)",
    )
    parser.add_argument("--columns", type=COLUMNS, default=None, help="montage columns (default: square grid)")
    parser.add_argument(
        "--slice",
        type=SLICE,
        default=None,
        help="slice for --kind slice, counted in LPI order (default: the heatmap's peak)",
    )
    parser.add_argument("--duration-ms", type=FRAME_MS, default=100, help="GIF frame duration (default 100 ms)")
    parser.add_argument("--no-colorbar", action="store_true", help="leave out the colour bar")
    parser.add_argument("--no-labels", action="store_true", help="leave out slice numbers and orientation letters")
    parser.add_argument(
        "--title", default=None, help="title line (default: method, class and score, read from the heatmap file)"
    )
    parser.add_argument("--no-title", action="store_true", help="leave out the title and slice position lines")


FIGURE_SUFFIXES = {"montage": (".png",), "slice": (".png",), "gif": (".gif",)}


def check_figure_output(path, inputs, kind: str = "auto", what: str = "--output") -> None:
    """Refuse an output that is one of the inputs, or a suffix this kind is not written in."""

    path = Path(path)
    kind = ("gif" if path.suffix.lower() == ".gif" else "montage") if kind == "auto" else kind
    allowed = FIGURE_SUFFIXES.get(kind, (".png", ".gif"))
    if path.suffix.lower() not in allowed:
        raise SaliencyError(
            f"{what} {path}: a {kind} is written as {' or '.join(allowed)}, not "
            f"'{path.suffix or 'no suffix'}'. Name the file e.g. figure{allowed[0]}."
        )
    if path.is_dir():
        raise SaliencyError(f"{what} {path} is a folder. Give a file name such as figure.png.")
    clash = find_clash(path, [given for given in inputs if given])
    if clash is not None:
        raise SaliencyError(clash_message(what, path, clash))


def run(args) -> int:
    check_figure_output(args.output, [args.image, args.heatmap] + ([args.outline] if args.outline else []), args.kind)
    image = read_image(args.image, "image", colour=True)
    heatmap = read_image(args.heatmap, "heatmap")
    image_array, heat_array, spacing = display_arrays(image, heatmap)
    region = region_array(read_image(args.outline, "--outline"), image) if args.outline else None
    title = args.title if args.title is not None else (annotate.title_from_heatmap(heatmap) or "heatmap")
    written = write_figure(
        args.output,
        image_array,
        heat_array,
        spacing,
        args.kind,
        args,
        title=title,
        region=region,
        geometry=display_geometry(image),
    )
    print(written)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "figure",
        help="write a PNG montage/slice or an animated GIF of a heatmap over its image",
        description=__doc__,
    )
    parser.add_argument("image", help="the background image file (NRRD, NIfTI, MHA, PNG, ...)")
    parser.add_argument("heatmap", help="the heatmap file (any grid: resampled onto the image)")
    parser.add_argument("-o", "--output", required=True, help="output .png or .gif")
    parser.add_argument(
        "--outline",
        default=None,
        metavar="MASK",
        help="a label volume (any grid, e.g. the lesion) whose outline is drawn on every slice",
    )
    add_layout_arguments(parser)
    add_style_arguments(parser)
    parser.set_defaults(func=run)
