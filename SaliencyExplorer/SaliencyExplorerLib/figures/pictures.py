"""Pictures of a heatmap over its image, for papers, reports and TensorBoard: PNG montages, single
slices and animated GIFs, 2D or 3D, greyscale or RGB backgrounds, any matplotlib colour map.

Arrays are in array order as SimpleITK and Slicer give them: (k, j, i) for 3D, (j, i) for 2D, an RGB
background with a trailing channel axis. Every picture is composed pixel-exactly in numpy (a voxel becomes
a block of `zoom` pixels, scaled by `spacing` so that anisotropic slices keep their shape), so a voxel's
position in the picture is known; matplotlib only draws the optional colour bar and maps colours.
High is important in every picture: the colour map's top colour is the map's highest value.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ..core.resources import check_memory
from ..errors import SaliencyError
from ..output_files import atomic_output
from . import annotate


@dataclass
class Style:
    """How an overlay looks. `window` and `heat_range` default to the whole volume's values so that
    every slice of one picture shares one scale."""

    cmap: str = "turbo"
    alpha: float = 0.5
    window: tuple | None = None  # background (low, high); None: 1st-99th percentile of the foreground
    heat_range: tuple | None = None  # (low, high) of the colour map; None: [0, 1] or the map's range
    threshold: float | None = None  # heat below this is not drawn
    zoom: int | None = None  # pixels per voxel; None: tiles of about `tile_px` pixels
    spacing: tuple | None = None  # voxel size per array axis, for the aspect ratio
    tile_px: int = 192  # with zoom None: the smallest zoom that makes a slice at least this wide/high


def default_window(image: np.ndarray, sample: int = 2_000_000) -> tuple[float, float]:
    """1st-99th percentile of the foreground when the image has a dark background (at least 20% of the
    voxels near the darkest 1%: air in CT, zero background in MRI), else of the whole image. So the air
    around a CT does not squeeze the body into white and the anatomy keeps its contrast."""
    values = np.asarray(image, dtype=np.float64).ravel()
    values = values[np.isfinite(values)][:: max(1, values.size // sample)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [1, 99]).astype(float)
    foreground = values[values > lo + 0.1 * (hi - lo)]
    if hi > lo and 0.05 * values.size <= foreground.size <= 0.8 * values.size:
        lo, hi = np.percentile(foreground, [1, 99]).astype(float)
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def make_style(options: dict) -> Style:
    """A Style from keyword options, naming any option that does not exist."""
    known = set(Style.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise SaliencyError(f"Unknown figure option(s) {unknown}; choose from {sorted(known)}.")
    return Style(**options)


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401, PLC0415  (matplotlib: optional extra, loaded only to draw)
        from PIL import Image  # noqa: F401, PLC0415  (Pillow: optional extra, loaded only to draw)
    except ImportError as exc:
        raise SaliencyError(
            f"Figures need matplotlib and Pillow ({exc.name} is missing): pip install 'SaliencyExplorer[figures]'."
        ) from None


def _colormap(name: str):
    import matplotlib  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)

    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise SaliencyError(
            f"Unknown colour map {name!r}; use a matplotlib name such as 'turbo', 'inferno', 'jet' or 'hot'."
        ) from None


class Overlay:
    """An image and its heatmap checked to share one grid, with the window and heat range resolved."""

    def __init__(self, image, heatmap, style: Style, region=None, geometry: annotate.Geometry | None = None):
        """``region``: a mask on the same grid whose outline is drawn; ``geometry``: where the (k, j, i)
        array lies in space (orientation letters and slice positions in mm)."""
        _require_matplotlib()
        image, heat = np.asarray(image), np.asarray(heatmap, dtype=np.float64)
        self.rgb = image.ndim == heat.ndim + 1 and image.shape[-1] in (3, 4)
        grid = image.shape[:-1] if self.rgb else image.shape
        if heat.ndim not in (2, 3) or grid != heat.shape:
            raise SaliencyError(
                f"The heatmap's shape {heat.shape} does not match the image's grid {grid} (image shape "
                f"{image.shape}). Both must be 2D or 3D on one grid: resample the heatmap onto the image "
                f"(the `figure` command does this through physical space)."
            )
        if not np.all(np.isfinite(heat)):
            raise SaliencyError("The heatmap contains NaN or infinite values; compute it again or replace them.")
        if not 0 <= style.alpha <= 1:
            raise SaliencyError(f"alpha must be in [0, 1], not {style.alpha}.")
        self.style, self.cmap = style, _colormap(style.cmap)
        self.image = image[..., :3] if self.rgb else image.astype(np.float64)
        self.heat = heat
        self.window = self._window(style.window)
        self.heat_range = self._heat_range(style.heat_range)
        self.spacing = self._spacing(style.spacing)
        self.geometry = geometry
        self.region = None if region is None else np.asarray(region) != 0
        if self.region is not None and self.region.shape != heat.shape:
            raise SaliencyError(
                f"The region's shape {self.region.shape} does not match the heatmap's {heat.shape}; "
                "resample the region onto the image (the `figure` command does this)."
            )

    def _window(self, window):
        if window is not None:
            lo, hi = (float(v) for v in window)
            if not hi > lo:
                raise SaliencyError(f"window must be (low, high) with high > low; got {window!r}.")
            return lo, hi
        if self.rgb and self.image.dtype == np.uint8:
            return 0.0, 255.0
        return default_window(self.image)

    def _heat_range(self, heat_range):
        if heat_range is not None:
            lo, hi = (float(v) for v in heat_range)
            if not hi > lo:
                raise SaliencyError(f"heat_range must be (low, high) with high > low; got {heat_range!r}.")
            return lo, hi
        lo, hi = float(self.heat.min()), float(self.heat.max())
        if lo >= 0 and hi <= 1:
            return 0.0, 1.0
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def _spacing(self, spacing):
        if spacing is None:
            return (1.0,) * self.heat.ndim
        spacing = tuple(float(s) for s in spacing)
        if len(spacing) != self.heat.ndim or min(spacing) <= 0:
            raise SaliencyError(f"spacing needs one positive value per axis ({self.heat.ndim}); got {spacing!r}.")
        return spacing

    # -- slices ---------------------------------------------------------------------------------------
    def count(self, axis: int) -> int:
        return 1 if self.heat.ndim == 2 else self.heat.shape[self.axis(axis)]

    def axis(self, axis: int) -> int:
        if self.heat.ndim == 2:
            return 0
        if axis not in (0, 1, 2, -1, -2, -3):
            raise SaliencyError(f"axis must be 0, 1 or 2 for a 3D volume, not {axis!r}.")
        return axis % 3

    def zooms(self, axis: int) -> tuple[int, int]:
        """Pixels per voxel along the slice's rows and columns, keeping the physical aspect ratio."""
        axes = (0, 1) if self.heat.ndim == 2 else tuple(a for a in range(3) if a != self.axis(axis))
        rows, cols = (self.heat.shape[a] for a in axes)
        base = max(1, math.ceil(self.style.tile_px / max(rows, cols))) if self.style.zoom is None else self.style.zoom
        if isinstance(base, bool) or not isinstance(base, (int, np.integer)) or base < 1:
            raise SaliencyError(f"zoom must be a positive integer, not {self.style.zoom!r}.")
        sr, sc = (self.spacing[a] for a in axes)
        small = min(sr, sc)
        zr, zc = max(1, round(base * sr / small)), max(1, round(base * sc / small))
        if self.style.zoom is not None:  # before allocating: every slice of a montage/GIF at this zoom
            slices = 1 if self.heat.ndim == 2 else self.heat.shape[self.axis(axis)]
            nbytes = slices * rows * zr * cols * zc * 3 * 2  # uint8 RGB tiles + the assembled picture
            check_memory(
                nbytes,
                f"the figure at --zoom {self.style.zoom} ({slices} slices of {rows * zr}x{cols * zc} px)",
                "use a smaller --zoom (or leave it out)",
            )
        return zr, zc

    def slice_rgb(self, axis: int, index: int) -> np.ndarray:
        """uint8 (H, W, 3) picture of one slice with the heatmap blended over it."""
        n = self.count(axis)
        if not 0 <= index < n:
            raise SaliencyError(f"Slice {index} is outside the volume: axis {axis} has slices 0..{n - 1}.")
        if self.heat.ndim == 2:
            image, heat = self.image, self.heat
        else:
            a = self.axis(axis)
            image, heat = np.take(self.image, index, axis=a), np.take(self.heat, index, axis=a)
        lo, hi = self.window
        background = np.clip((image.astype(np.float64) - lo) / (hi - lo), 0, 1)
        if not self.rgb:
            background = np.repeat(background[..., None], 3, axis=-1)
        hlo, hhi = self.heat_range
        colours = self.cmap(np.clip((heat - hlo) / (hhi - hlo), 0, 1))[..., :3]
        alpha = np.full(heat.shape, self.style.alpha)
        if self.style.threshold is not None:
            alpha[heat < self.style.threshold] = 0.0
        blended = background * (1 - alpha[..., None]) + colours * alpha[..., None]
        zr, zc = self.zooms(axis)
        picture = np.round(blended * 255).astype(np.uint8)
        picture = np.repeat(np.repeat(picture, zr, axis=0), zc, axis=1)
        if self.region is not None:
            region = self.region if self.heat.ndim == 2 else np.take(self.region, index, axis=self.axis(axis))
            picture[annotate.outline(region, zr, zc)] = annotate.OUTLINE_COLOUR
        return picture

    def letters(self, axis: int) -> dict | None:
        """Patient directions on the slice's edges (3D with a known geometry), else None."""
        if self.geometry is None or self.heat.ndim != 3:
            return None
        return annotate.edge_letters(self.geometry.direction, self.axis(axis))

    def caption(self, axis: int, index: int) -> str:
        return annotate.slice_caption(self.geometry, self.heat.shape, self.axis(axis), index)

    def tile(self, axis: int, index: int, letters: bool = True) -> np.ndarray:
        """``slice_rgb`` with the orientation letters on its edges when they are known."""
        picture = self.slice_rgb(axis, index)
        known = self.letters(axis) if letters else None
        return annotate.draw_letters(picture, known) if known else picture

    def hottest_slice(self, axis: int) -> int:
        if self.heat.ndim == 2:
            return 0
        return int(np.unravel_index(np.argmax(self.heat), self.heat.shape)[self.axis(axis)])


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    picture = Image.fromarray(tile)
    size = int(np.clip(tile.shape[0] / 16, 10, 14))
    ImageDraw.Draw(picture).text(
        (2, 0), text, fill=(255, 255, 255), font=annotate.font(size), stroke_width=1, stroke_fill=(0, 0, 0)
    )
    return np.asarray(picture)


def colorbar_strip(overlay: Overlay, height: int, width: int = 90) -> np.ndarray:
    """uint8 (height, width, 3) colour bar with tick labels, drawn by matplotlib on black."""
    from matplotlib.backends.backend_agg import (  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)
        FigureCanvasAgg,
    )
    from matplotlib.colorbar import ColorbarBase  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)
    from matplotlib.colors import Normalize  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)
    from matplotlib.figure import Figure  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)

    height = max(int(height), 60)
    figure = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor="black")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.12, 0.06, 0.22, 0.88))
    bar = ColorbarBase(axes, cmap=overlay.cmap, norm=Normalize(*overlay.heat_range))
    size = float(np.clip(height / 25, 6, 10))
    bar.ax.tick_params(colors="white", labelsize=size)
    unit = overlay.heat_range == (0.0, 1.0)
    bar.set_label(annotate.COLORBAR_LABEL if unit else "importance", color="white", fontsize=size)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _with_colorbar(picture: np.ndarray, overlay: Overlay) -> np.ndarray:
    return _with_colorbar_strip(picture, colorbar_strip(overlay, picture.shape[0]))


def montage_indices(count: int, every: int | None, limit: int = 16) -> list[int]:
    """Every n-th slice, centred in the volume; by default n is chosen to show at most `limit` slices."""
    every = max(1, math.ceil(count / limit)) if every is None else every
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise SaliencyError(f"every must be a positive integer (show every n-th slice), not {every!r}.")
    shown = (count - 1) // every + 1
    start = (count - 1 - (shown - 1) * every) // 2
    return list(range(start, count, every))[:shown]


def _titled(picture: np.ndarray, lines: list[str]) -> np.ndarray:
    """The picture under a black band holding ``lines`` (nothing added for no lines), widened with black
    to ``annotate.MIN_WIDTH`` so that the title has room and a narrow slice still prints readably."""
    lines = [line for line in lines if line]
    if not lines:
        return picture
    if picture.shape[1] < annotate.MIN_WIDTH:
        extra = annotate.MIN_WIDTH - picture.shape[1]
        picture = np.pad(picture, ((0, 0), (extra // 2, extra - extra // 2), (0, 0)))
    return np.concatenate([annotate.text_band(picture.shape[1], lines), picture], axis=0)


def montage(
    image,
    heatmap,
    axis: int = 0,
    every: int | None = None,
    columns: int | None = None,
    colorbar: bool = True,
    labels: bool = True,
    pad: int = 2,
    title: str | None = None,
    region=None,
    geometry=None,
    **style,
) -> np.ndarray:
    """uint8 RGB grid of every n-th slice along `axis` with the heatmap blended over each.

    ``title``: a line above the grid (with ``geometry``, a second line says which slices); ``region``: a
    mask on the same grid, outlined on every tile; ``geometry`` (``annotate.Geometry``): orientation
    letters on each tile and slice positions in mm in the labels."""
    overlay = Overlay(image, heatmap, make_style(style), region, geometry)
    indices = montage_indices(overlay.count(axis), every)
    columns = columns or math.ceil(math.sqrt(len(indices)))
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise SaliencyError(f"columns must be a positive integer, not {columns!r}.")
    columns = min(columns, len(indices))
    rows = math.ceil(len(indices) / columns)
    tiles = [overlay.tile(axis, i, letters=labels) for i in indices]
    if labels:
        names = [
            str(i)
            if geometry is None or overlay.heat.ndim != 3
            else "{} {} {:.1f}".format(i, *annotate.slice_position(geometry, overlay.heat.shape, overlay.axis(axis), i))
            for i in indices
        ]
        tiles = [_label(t, name) for t, name in zip(tiles, names)]
    th, tw = tiles[0].shape[:2]
    canvas = np.zeros((rows * th + (rows + 1) * pad, columns * tw + (columns + 1) * pad, 3), np.uint8)
    for n, tile in enumerate(tiles):
        r, c = divmod(n, columns)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        canvas[y : y + th, x : x + tw] = tile
    picture = _with_colorbar(canvas, overlay) if colorbar else canvas
    which = None
    if title is not None and overlay.heat.ndim == 3:
        step = indices[1] - indices[0] if len(indices) > 1 else 1
        plane = annotate.slice_caption(geometry, overlay.heat.shape, overlay.axis(axis), indices[0]).split(" slice")[0]
        which = (
            f"{plane + ' ' if geometry is not None else ''}slices {indices[0]} to {indices[-1]} "
            f"of {overlay.count(axis)}, every {step}; labels: slice, RAS position (mm)"
        )
    return _titled(picture, [title, which] if title is not None else [])


def slice_overlay(
    image,
    heatmap,
    axis: int = 0,
    index: int | None = None,
    colorbar: bool = False,
    title: str | None = None,
    region=None,
    geometry=None,
    labels: bool = True,
    **style,
) -> np.ndarray:
    """uint8 RGB picture of one slice (default: the one holding the heatmap's peak).

    ``title``, ``region``, ``geometry``: as for :func:`montage` (the second title line names the slice and
    its position in mm); ``labels``: the orientation letters (with ``geometry``)."""
    overlay = Overlay(image, heatmap, make_style(style), region, geometry)
    index = overlay.hottest_slice(axis) if index is None else int(index)
    picture = overlay.tile(axis, index, letters=labels)
    picture = _with_colorbar(picture, overlay) if colorbar else picture
    return _titled(picture, [title, overlay.caption(axis, index)] if title is not None else [])


def _with_index_band(frame: np.ndarray, text: str, height: int = 12) -> np.ndarray:
    """The frame above a black band naming its slice; this also keeps every frame distinct, which
    matters because Pillow merges identical consecutive GIF frames (empty slices) into one."""
    band = _label(np.zeros((height, frame.shape[1], 3), np.uint8), text)
    return np.concatenate([frame, band], axis=0)


def gif_frames(
    image,
    heatmap,
    axis: int = 0,
    every: int = 1,
    labels: bool = True,
    colorbar: bool = False,
    title: str | None = None,
    region=None,
    geometry=None,
    **style,
) -> list[np.ndarray]:
    """The frames of an animation through the volume: every n-th slice along `axis` (one for 2D).

    With `labels`, a 12-pixel band under each 3D frame says "slice/count" (one frame per slice is then
    guaranteed); without it, identical neighbouring slices become one longer frame. With a ``title``, each
    frame is titled as :func:`slice_overlay` titles its slice (and then needs no band); ``colorbar``,
    ``region``, ``geometry`` as there."""
    overlay = Overlay(image, heatmap, make_style(style), region, geometry)
    count = overlay.count(axis)
    indices = montage_indices(count, every, limit=10**9)
    frames = [overlay.tile(axis, i, letters=labels) for i in indices]
    if colorbar:
        strip = colorbar_strip(overlay, frames[0].shape[0])
        frames = [_with_colorbar_strip(f, strip) for f in frames]
    if title is not None:
        return [_titled(f, [title, overlay.caption(axis, i)]) for f, i in zip(frames, indices)]
    if labels and overlay.heat.ndim == 3:
        frames = [_with_index_band(f, f"{i}/{count}") for f, i in zip(frames, indices)]
    return frames


def _with_colorbar_strip(picture: np.ndarray, strip: np.ndarray) -> np.ndarray:
    if strip.shape[0] > picture.shape[0]:
        pad = np.zeros((strip.shape[0] - picture.shape[0], *picture.shape[1:]), np.uint8)
        picture = np.concatenate([picture, pad], axis=0)
    return np.concatenate([picture, strip], axis=1)


def save_png(path, picture: np.ndarray) -> str:
    """Write an RGB uint8 array as PNG; returns the path."""
    _require_matplotlib()
    from PIL import Image  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    with atomic_output(path, "figure") as tmp:
        Image.fromarray(np.ascontiguousarray(picture)).save(tmp, format="PNG")
    return str(path)


def encode_gif(frames: list[np.ndarray], duration_ms: int = 100) -> bytes:
    """Animated GIF bytes, looping forever (Pillow merges identical consecutive frames)."""
    _require_matplotlib()

    from PIL import Image  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    if not frames:
        raise SaliencyError("No frames to animate.")
    pictures = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=int(duration_ms), loop=0)
    return buffer.getvalue()


def save_montage(path, image, heatmap, **options) -> str:
    return save_png(path, montage(image, heatmap, **options))


def save_slice(path, image, heatmap, **options) -> str:
    return save_png(path, slice_overlay(image, heatmap, **options))


def save_gif(
    path, image, heatmap, axis: int = 0, every: int = 1, duration_ms: int = 100, labels: bool = True, **options
) -> str:
    """An animated GIF stepping through the volume along `axis`; returns the path (options: gif_frames')."""

    data = encode_gif(gif_frames(image, heatmap, axis=axis, every=every, labels=labels, **options), duration_ms)
    with atomic_output(path, "figure") as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return str(path)
