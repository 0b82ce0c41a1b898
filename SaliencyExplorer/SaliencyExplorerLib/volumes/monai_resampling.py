"""MONAI ``Orientationd`` + ``Spacingd``'s values, in MONAI's own arithmetic (plain torch, no MONAI import).

Why: an exact interpolation of air next to tissue is 0, but MONAI's (torch ``grid_sample`` in float64 through
normalised coordinates) leaves ~1e-13 there, and ``NormalizeIntensityd(nonzero=True)`` then counts those
voxels as foreground and z-scores them (to about -2 on a head): a real network (taps on Colin27) predicts
4.5 cc in such air. So for MONAI's grid the tool repeats MONAI's steps, operation for operation, and its model
input equals MONAI's bit for bit (Testing/volumes/test_monai_resampling.py):

- ``Orientationd``: a flip and permute of the array (exact), the affine ``affine @ inv_ornt_aff`` (monai_grid);
- ``SpatialResample`` (MONAI 1.6 ``spatial_resample``): ``xform = numpy.linalg.solve(src, dst)``; no resampling
  (values copied as float32) where src ~ dst or xform ~ identity to ``AFFINE_TOL`` with the same shape; else
  ``AffineTransform(normalized=False, reverse_indexing=True, align_corners=False)``: ``to_norm_affine``
  (``normalize_transform`` of both shapes, float64), axes reversed, ``affine_grid`` + ``grid_sample`` in
  float64 (Spacingd's default ``dtype``), then float32. Padding: "border" (the card's ``background: "edge"``)
  or "zeros" (``background`` 0). A card's other constant background is the tool's own: zeros padding of
  (values - background), + background (MONAI has no such mode).

Integer ``mode``s (MONAI's scipy path) and B-splines are not this module's: those cards use resampling.py.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import SimpleITK as sitk

from .grid import is_monai_spacing
from .intensity import normalise_intensity
from .monai_grid import AFFINE_TOL, MonaiSpacing, monai_spacing, oriented

TORCH_MODES = {"linear": "bilinear", "nearest": "nearest"}  # card interpolation -> grid_sample mode


def oriented_array(image: sitk.Image, axes) -> np.ndarray:
    """``image``'s values as MONAI's reader gives them (float32, (i, j, k)), flipped and permuted by
    ``Orientationd`` (``axes``: per output axis, the image axis and whether it is flipped)."""
    values = sitk.GetArrayFromImage(image).astype(np.float32).transpose(2, 1, 0)  # LoadImaged: float32, (i, j, k)
    values = np.transpose(values, [a for a, _ in axes])
    flipped = tuple(m for m, (_, flip) in enumerate(axes) if flip)
    return np.ascontiguousarray(np.flip(values, flipped) if flipped else values)


def _normalize_transform(shape):
    """monai.networks.utils ``normalize_transform(shape, align_corners=False, zero_centered=False)``, float64."""
    import torch  # noqa: PLC0415

    shape = torch.as_tensor([float(n) for n in shape], dtype=torch.float64)
    norm = shape.clone()
    norm[norm <= 0.0] = 2.0
    norm = 2.0 / norm
    norm = torch.diag(torch.cat((norm, torch.ones((1,), dtype=torch.float64))))
    norm[:-1, -1] = 1.0 / shape - 1.0
    return norm.unsqueeze(0)


def _unchanged(source, target, xform, in_size, out_size) -> bool:
    """MONAI's test for "no resampling": src ~ dst or xform ~ identity (atol AFFINE_TOL), same shape."""
    same_size = np.allclose(np.asarray(out_size, float), np.asarray(in_size, float))
    close = np.allclose(source, target, atol=AFFINE_TOL) or np.allclose(xform, np.eye(4), atol=AFFINE_TOL)
    return bool(same_size and close)


def uses_monai_arithmetic(spec) -> bool:
    """Whether the card's input is MONAI's ``Spacingd`` grid sampled by ``grid_sample`` (linear or nearest)."""
    return is_monai_spacing(spec) and spec.interpolation in TORCH_MODES


def monai_channels(vols, rules, spec):
    """Each channel through ``Orientationd`` + ``Spacingd`` onto the first one's grid (the model grid) and its
    intensity rule, in MONAI's order -> (resampled, normalised) float32 (k, j, i) arrays.

    The intensity steps are MONAI's (a zscore: ``NormalizeIntensity``'s torch statistics), taken over the array
    in MONAI's axis order ((i, j, k) after Orientationd): torch's float32 mean sums in that order, and its
    last bits are MONAI's only then.
    """
    target = monai_spacing(vols[0], spec.orientation, spec.spacing or (None, None, None), spec.size, spec.reader)
    sampled, normalised = [], []
    for vol, rule in zip(vols, rules):
        before = (
            partial(normalise_intensity, rule=rule, native=vol, monai=True) if spec.intensity_on == "native" else None
        )
        values = spacing_resample(
            vol, target, spec.orientation, spec.interpolation, spec.background, before, reader=spec.reader
        )
        sampled.append(np.ascontiguousarray(values.transpose(2, 1, 0)))
        if spec.intensity_on == "native":
            normalised.append(sampled[-1])
        else:
            normalised.append(
                np.ascontiguousarray(normalise_intensity(values, rule, vol, monai=True).transpose(2, 1, 0))
            )
    return sampled, normalised


def spacing_resample(
    image: sitk.Image, target: MonaiSpacing, code, interpolation="linear", background="edge", before=None, reader="auto"
) -> np.ndarray:
    """``image`` through MONAI ``Orientationd(code)`` + ``SpatialResample`` onto ``target`` (``monai_spacing``
    of the first channel) -> float32 (i, j, k), MONAI's array. ``interpolation``: "linear" or "nearest";
    ``background``: "edge", "min" or a number; ``before``: a step on the oriented array first (an intensity
    rule MONAI applies before Spacingd); ``reader``: whose affine (``monai_grid.reader_affine``)."""
    import torch  # noqa: PLC0415  (lazy: the Slicer side imports volumes/ without torch)

    source, _, axes = oriented(image, code, reader)
    values = oriented_array(image, axes)
    if before is not None:
        values = np.asarray(before(values), dtype=np.float32)
    xform = np.linalg.solve(source, target.target)
    if _unchanged(source, target.target, xform, values.shape, target.size):
        return values
    if background == "edge":
        constant = 0.0
    else:
        constant = float(values.min()) if background == "min" else float(background)
    src = torch.from_numpy(values).to(torch.float64)[None, None]
    if constant:
        src = src - constant
    theta = torch.as_tensor(xform, dtype=torch.float64)[None].clone()
    dst_norm = _normalize_transform(target.size)
    theta = _normalize_transform(values.shape) @ theta @ torch.as_tensor(np.linalg.inv(dst_norm.numpy()))
    reverse = torch.as_tensor([2, 1, 0])
    theta[:, :3] = theta[:, reverse]
    theta[:, :, :3] = theta[:, :, reverse]
    size = [1, 1, *(int(n) for n in target.size)]
    grid = torch.nn.functional.affine_grid(theta=theta[:, :3], size=size, align_corners=False)
    out = torch.nn.functional.grid_sample(
        src,
        grid,
        mode=TORCH_MODES[interpolation],
        padding_mode="border" if background == "edge" else "zeros",
        align_corners=False,
    )
    if constant:
        out = out + constant
    return out[0, 0].to(torch.float32).numpy()
