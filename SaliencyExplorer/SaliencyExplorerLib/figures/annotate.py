"""What makes a picture of a heatmap fit for a paper or a tumour board: a title (method, class, score), which
slice it is and where (mm), the patient's directions on the slice edges, the region's outline.

Why apart from ``pictures``: the geometry (orientation letters from the volume's direction, slice positions
in RAS) is pure arithmetic tested on its own, and the text drawing is shared by PNGs and GIF frames. The
heatmap files carry their method, class and score as metadata (``tag_heatmap``) so that ``figure`` can title
a picture from the heatmap file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Metadata keys a heatmap file carries (written by explain, read by figure).
METHOD_KEY, TARGET_KEY, SCORE_KEY = "SaliencyExplorer_method", "SaliencyExplorer_target", "SaliencyExplorer_score"
COLORBAR_LABEL = "importance, normalised 0-1"
MIN_WIDTH = 600  # pixels: a titled picture is at least this wide (readable in a slide or on paper)
OUTLINE_COLOUR = (255, 0, 255)  # magenta: no colour map of the usual ones (turbo, jet, inferno) has it
LETTER_COLOUR = (255, 220, 0)
METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "xgradcam": "XGrad-CAM",
    "eigencam": "Eigen-CAM",
    "eigengradcam": "Eigen-Grad-CAM",
    "scorecam": "Score-CAM",
    "ablationcam": "Ablation-CAM",
    "cam": "CAM",
    "smoothgrad": "SmoothGrad",
    "integrated-gradients": "Integrated Gradients",
    "saliency": "Saliency",
    "inputxgradient": "Input x Gradient",
    "guided-backprop": "Guided Backprop",
    "guided-gradcam": "Guided Grad-CAM",
    "occlusion": "Occlusion",
    "rise": "RISE",
}
_POSITIVE = ("L", "P", "S")  # LPS: where each physical axis increases
_NEGATIVE = ("R", "A", "I")
_RAS_NAME = ("R", "A", "S")


@dataclass(frozen=True)
class Geometry:
    """Where the voxels of a (k, j, i) display array lie: SimpleITK's origin, spacing (i, j, k) and
    row-major direction (LPS). ``Geometry.of(image)`` takes them from a SimpleITK image."""

    origin: tuple
    spacing: tuple
    direction: tuple

    @classmethod
    def of(cls, image) -> "Geometry":
        return cls(tuple(image.GetOrigin()), tuple(image.GetSpacing()), tuple(image.GetDirection()))

    @property
    def matrix(self) -> np.ndarray:
        dim = len(self.spacing)
        return np.asarray(self.direction, dtype=float).reshape(dim, dim)


def _letter(vector, positive: bool) -> str:
    """The patient direction a (LPS) vector points to, by its largest component."""
    v = np.asarray(vector, dtype=float)
    axis = int(np.argmax(np.abs(v)))
    towards = (v[axis] > 0) == positive
    return (_POSITIVE if towards else _NEGATIVE)[axis]


def edge_letters(direction, axis: int) -> dict:
    """Patient directions at the top, bottom, left and right edges of a slice of a (k, j, i) array.

    ``direction``: SimpleITK's row-major 3x3 (columns: the i, j, k axes in LPS); ``axis``: the array axis
    sliced (0: k, 1: j, 2: i). A slice's rows run along the first remaining array axis (downwards), its
    columns along the second (rightwards), so the bottom edge is where the row axis increases.
    """
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    rows, cols = (a for a in range(3) if a != axis)
    row_vec, col_vec = d[:, 2 - rows], d[:, 2 - cols]  # array axis a is image index axis 2 - a
    return {
        "top": _letter(row_vec, False),
        "bottom": _letter(row_vec, True),
        "left": _letter(col_vec, False),
        "right": _letter(col_vec, True),
    }


def slice_position(geometry: Geometry, shape, axis: int, index: int) -> tuple[str, float]:
    """(R, A or S, millimetres in RAS) of the slice's centre along the patient axis its normal is closest to,
    as Slicer's slice views label it."""
    centre = [(n - 1) / 2.0 for n in shape]  # (k, j, i) array order
    centre[axis] = float(index)
    ijk = np.asarray(centre[::-1])
    lps = np.asarray(geometry.origin) + geometry.matrix @ (np.asarray(geometry.spacing) * ijk)
    normal = np.abs(geometry.matrix[:, 2 - axis])
    which = int(np.argmax(normal))
    ras = lps * np.array([-1.0, -1.0, 1.0])
    return _RAS_NAME[which], float(ras[which])


PLANES = {"S": "axial", "A": "coronal", "R": "sagittal"}  # the plane a slice is, by the axis of its normal


def slice_caption(geometry: Geometry | None, shape, axis: int, index: int) -> str:
    """'axial slice 12 of 32, S 10.0 mm' (without geometry: 'slice 12 of 32')."""
    count = shape[axis] if len(shape) == 3 else 1
    text = f"slice {index} of {count}"
    if geometry is None or len(shape) != 3:
        return text
    letter, mm = slice_position(geometry, shape, axis, index)
    return f"{PLANES[letter]} {text}, {letter} {mm:.1f} mm"


def method_title(method: str | None) -> str:
    return METHOD_TITLES.get(str(method).lower(), str(method)) if method else "heatmap"


def heatmap_title(method=None, target=None, score=None) -> str:
    """'Grad-CAM of class "lesion" (score 0.998)'."""
    text = method_title(method)
    if target not in (None, ""):
        text += f' of class "{target}"'
    if score not in (None, "") and np.isfinite(float(score)):
        text += f" (score {float(score):.3f})"
    return text


def tag_heatmap(image, method=None, target=None, score=None):
    """Write method, class and score into a SimpleITK heatmap's metadata (kept by NRRD/MHA files)."""
    for key, value in ((METHOD_KEY, method), (TARGET_KEY, target), (SCORE_KEY, score)):
        if value is not None:
            image.SetMetaData(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    return image


def title_from_heatmap(image) -> str | None:
    """The title a tagged heatmap file gives itself, or None for a file without the tags."""
    read = {k: image.GetMetaData(k) if image.HasMetaDataKey(k) else None for k in (METHOD_KEY, TARGET_KEY, SCORE_KEY)}
    if read[METHOD_KEY] is None:
        return None
    return heatmap_title(read[METHOD_KEY], read[TARGET_KEY], read[SCORE_KEY])


# ---- drawing -------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def font(size: int):
    """A scalable font (matplotlib's DejaVu Sans through Pillow), else Pillow's own."""
    from PIL import ImageFont  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    try:
        from matplotlib import font_manager  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (ImportError, OSError, ValueError):
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()


def text_band(width: int, lines: list[str], size: int = 14) -> np.ndarray:
    """A black band as wide as the picture with the lines of text in white, top to bottom."""
    from PIL import Image, ImageDraw  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    step = size + 5
    band = Image.new("RGB", (int(width), step * len(lines) + 6), (0, 0, 0))
    draw = ImageDraw.Draw(band)
    for n, line in enumerate(lines):
        draw.text((6, 3 + n * step), line, fill=(255, 255, 255), font=font(size))
    return np.asarray(band)


def draw_letters(tile: np.ndarray, letters: dict, size: int | None = None) -> np.ndarray:
    """The tile with its orientation letters at the middle of each edge."""
    from PIL import Image, ImageDraw  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    h, w = tile.shape[:2]
    size = size or int(np.clip(min(h, w) / 14, 9, 18))
    picture = Image.fromarray(np.ascontiguousarray(tile))
    draw = ImageDraw.Draw(picture)
    where = {
        "top": (w / 2, 2, "mt"),
        "bottom": (w / 2, h - 2, "mb"),
        "left": (3, h / 2, "lm"),
        "right": (w - 3, h / 2, "rm"),
    }
    for edge, (x, y, anchor) in where.items():
        draw.text(
            (x, y),
            letters[edge],
            fill=LETTER_COLOUR,
            font=font(size),
            anchor=anchor,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )
    return np.asarray(picture)


def outline(mask: np.ndarray, zoom_rows: int, zoom_cols: int, width: int | None = None) -> np.ndarray:
    """Boundary pixels of a 2D mask at the picture's zoom: inside pixels within ``width`` 4-neighbour steps
    of the outside (default: half a voxel, at least 1 pixel)."""
    big = np.repeat(np.repeat(np.asarray(mask, dtype=bool), zoom_rows, axis=0), zoom_cols, axis=1)
    width = max(1, min(zoom_rows, zoom_cols) // 2) if width is None else width
    interior = big
    for _ in range(width):
        padded = np.pad(interior, 1, constant_values=False)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & interior
    return big & ~interior
