"""TensorBoard helpers for people who explain a model while training it.

They write to a `torch.utils.tensorboard.SummaryWriter` (or anything with its `_get_file_writer()`): a
2D image or overlay as an ordinary image summary, a 3D volume as an animated GIF image summary (what
TensorBoard's image dashboard plays, as in MONAI's `plot_2d_or_3d_image`). The pictures come from
`figures`, so they look exactly like the PNG/GIF files. `tensorboard` is an optional dependency.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import SaliencyError
from . import pictures


def _summary_classes():
    try:
        from tensorboard.compat.proto.summary_pb2 import Summary  # noqa: PLC0415  (tensorboard: optional extra)
    except ImportError:
        raise SaliencyError(
            "TensorBoard logging needs the optional 'tensorboard' package: "
            "pip install 'SaliencyExplorer[tensorboard]' (or pip install tensorboard)."
        ) from None
    return Summary


def _file_writer(writer):
    getter = getattr(writer, "_get_file_writer", None)
    if getter is None:
        raise SaliencyError(f"writer must be a torch.utils.tensorboard.SummaryWriter, not {type(writer).__name__}.")
    return getter()


def _as_numpy(value, name):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.ndim not in (2, 3, 4):
        raise SaliencyError(f"{name} must be a 2D or 3D array (optionally RGB); got shape {value.shape}.")
    return value


def _png(picture: np.ndarray) -> bytes:
    from PIL import Image  # noqa: PLC0415  (Pillow: optional extra, loaded only to draw)

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(writer, tag: str, encoded: bytes, height: int, width: int, step) -> None:
    summary_cls = _summary_classes()
    image = summary_cls.Image(height=int(height), width=int(width), colorspace=3, encoded_image_string=encoded)
    summary = summary_cls(value=[summary_cls.Value(tag=tag, image=image)])
    _file_writer(writer).add_summary(summary, step)


def add_overlay(
    writer,
    tag: str,
    image,
    heatmap,
    step: int | None = None,
    axis: int = 0,
    every: int = 1,
    duration_ms: int = 100,
    labels: bool = True,
    **style,
) -> str:
    """Log the heatmap over its image: a picture for 2D, an animated GIF through the volume for 3D.

    Returns "png" or "gif" (what was written)."""
    _summary_classes()
    image, heat = _as_numpy(image, "image"), _as_numpy(heatmap, "heatmap")
    if heat.ndim == 3:
        frames = pictures.gif_frames(image, heat, axis=axis, every=every, labels=labels, **style)
        height, width = frames[0].shape[:2]
        _write(writer, tag, pictures.encode_gif(frames, duration_ms), height, width, step)
        return "gif"
    picture = pictures.slice_overlay(image, heat, **style)
    _write(writer, tag, _png(picture), picture.shape[0], picture.shape[1], step)
    return "png"


def add_image(
    writer,
    tag: str,
    image,
    step: int | None = None,
    axis: int = 0,
    every: int = 1,
    duration_ms: int = 100,
    window=None,
    zoom: int | None = None,
    rgb: bool | None = None,
) -> str:
    """Log a 2D image (grey or RGB) as a picture, or a 3D volume as an animated GIF, windowed sensibly.

    `rgb=None` reads a trailing axis of 3 or 4 as colour; say `rgb=False` for a 3D volume of 3 slices."""
    _summary_classes()
    image = _as_numpy(image, "image")
    if rgb is None:
        rgb = image.ndim == 4 or (image.ndim == 3 and image.shape[-1] in (3, 4))
    grid = image.shape[:-1] if rgb else image.shape
    blank = np.zeros(grid)
    return add_overlay(
        writer,
        tag,
        image,
        blank,
        step,
        axis=axis,
        every=every,
        duration_ms=duration_ms,
        alpha=0.0,
        window=window,
        zoom=zoom,
    )
