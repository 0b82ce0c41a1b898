"""Which voxels a segmentation explanation is about, given in patient space: a box, or the predicted
component at a point.

Why: a clinician points at one lesion ("explain this one"), not at a mask file. A box is two RAS corners;
a point picks the connected component of the target class's prediction that contains it. Both become a
mask on the model grid, which the engine sums the target's output over (as a region mask would be).
The point costs one extra inference (the prediction must exist before the explanation can start).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from ..volumes.geometry import ModelInput, from_layout, lps_from_ras, to_layout


def _numbers(value, what: str, shape: str) -> np.ndarray:
    """``value`` as floats; text, None or nested junk -> one line naming the expected form."""
    try:
        if isinstance(value, (str, bytes)):
            raise ValueError("text")
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise SaliencyError(f"{what} must be {shape} in mm as numbers (a list, not text), not {value!r}.") from None


def check_region(region_box=None, region_at=None) -> None:
    """Both checked before anything runs (the point's check otherwise waits for a whole prediction)."""
    if region_box is not None:
        corners = _numbers(region_box, "region_box", "two RAS corners [[x0, y0, z0], [x1, y1, z1]]")
        if corners.shape != (2, 3) or not np.isfinite(corners).all():
            raise SaliencyError(
                f"region_box must be two RAS corners [[x0, y0, z0], [x1, y1, z1]] in mm, not {region_box!r}."
            )
    if region_at is not None:
        _ras_point(region_at, "region_at")


def _ras_point(value, what: str) -> np.ndarray:
    point = _numbers(value, what, "three finite RAS coordinates (x, y, z)").ravel()
    if point.size != 3 or not np.isfinite(point).all():
        raise SaliencyError(f"{what} must be three finite RAS coordinates in mm (x, y, z), not {value!r}.")
    return point


def box_mask(model_input: ModelInput, box_ras) -> np.ndarray:
    """bool (N, *spatial) on the model grid: voxel centres inside the axis-aligned RAS box (two corners)."""
    corners = _numbers(box_ras, "region_box", "two RAS corners [[x0, y0, z0], [x1, y1, z1]]")
    if corners.shape != (2, 3) or not np.isfinite(corners).all():
        raise SaliencyError(f"region_box must be two RAS corners [[x0, y0, z0], [x1, y1, z1]] in mm, not {box_ras!r}.")
    low, high = corners.min(0), corners.max(0)
    grid = model_input.grid
    index = np.stack(np.meshgrid(*[np.arange(n) for n in grid.size[::-1]], indexing="ij")[::-1], -1)  # (k,j,i,3)
    points_ras = lps_from_ras(np.asarray(grid.origin) + (index * np.asarray(grid.spacing)) @ grid.matrix.T)
    inside = np.all((points_ras >= low) & (points_ras <= high), axis=-1)
    if not inside.any():
        raise SaliencyError(
            f"region_box {corners.tolist()} (RAS mm) holds no voxel of the model's field of view; "
            "check the corners against the volume."
        )
    return to_layout(inside, model_input.card)


def predicted_labels(module, model_input: ModelInput, card, options, target=None) -> np.ndarray:
    """(N, *spatial) class indices the model predicts on the model grid (its blended output under windows).
    Several sigmoid channels are multi-label (a voxel may be in several classes): ``target`` where its own
    channel is above 0.5, -1 elsewhere."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.model_call import call_model  # noqa: PLC0415  (torch)
    from ..core.sliding_window import SlidingWindow, WindowPlan  # noqa: PLC0415  (torch)
    from ..core.targets import pick_output  # noqa: PLC0415  (torch)

    x = model_input.tensor
    with torch.no_grad():
        windows = SlidingWindow.of(options.get("sliding_window"))
        if windows is not None:
            output = WindowPlan(windows, x.shape[2:]).infer(
                lambda t: pick_output(call_model(module, t), options.get("output_key")), x
            )
        else:
            output = pick_output(call_model(module, x), options.get("output_key"))
    if output.dim() < 3:
        raise SaliencyError(
            "region_at picks a predicted component, but this model classifies (its output has no "
            "spatial axes). Use a region only with a segmentation model."
        )
    multi_label = options.get("output_activation", card.output.activation) == "sigmoid" and output.shape[1] > 1
    if multi_label and target is not None and 0 <= target < output.shape[1]:
        return np.where((output[:, target] > 0).numpy(), target, -1)
    return (output[:, 0] > 0).long().numpy() if output.shape[1] == 1 else output.argmax(1).numpy()


def component_mask(labels: np.ndarray, model_input: ModelInput, point_ras, target: int) -> np.ndarray:
    """bool (N, *spatial): the connected component of class ``target`` in ``labels`` that contains the point."""
    point = _ras_point(point_ras, "region_at")
    grid = model_input.grid
    selected = grid.image(from_layout((labels == target).astype(np.float32), model_input.card))
    components = sitk.ConnectedComponent(sitk.Cast(selected, sitk.sitkUInt8), True)
    index = selected.TransformPhysicalPointToIndex(tuple(float(v) for v in lps_from_ras(point)))
    if not all(0 <= i < n for i, n in zip(index, grid.size)):
        raise SaliencyError(
            f"region_at {point.tolist()} (RAS mm) lies outside the model's field of view; pick a "
            "point inside the volume."
        )
    label = int(components[index])
    if label == 0:
        found = int((labels == target).sum())
        raise SaliencyError(
            f"the model predicts no class {target} at {point.tolist()} (RAS mm) ({found} voxels of it "
            "elsewhere); pick a point inside a predicted region, or give region_box / a mask."
        )
    return to_layout(sitk.GetArrayFromImage(components) == label, model_input.card)
