"""A card's ``localiser``: the first of two chained models places the box the explained model sees.

Why: deepbet (brain extraction) and nnU-Net's cascades run a first network to find where to look, and the
network explained runs only there (deepbet: the box of the first network's brain mask, plus 10% each
side). A fixed crop cannot say that: a scan with the neck in view moves the box. The localiser runs as its
own card says (grid, intensity, windows, postprocessing); its prediction on the volume's own grid gives the
box; ``volumes.geometry.to_model(box=)`` crops the volume to it, and the map still goes back to the whole
volume (0 outside the box, where the explained model never looked).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError


def grown_box(selected: np.ndarray, margin: float) -> tuple:
    """(start, stop) per (k, j, i) axis: the selected voxels' bounding box, grown about its centre to
    ``(1 + 2 margin)`` times its size (rounded, as deepbet's ``get_bbox_with_margin``), clamped to the array."""
    box = []
    for axis in range(selected.ndim):
        hits = np.flatnonzero(selected.any(axis=tuple(a for a in range(selected.ndim) if a != axis)))
        centre, size = (hits[0] + hits[-1] + 1) / 2.0, float(hits[-1] + 1 - hits[0])
        centre, size = round(centre), round((1 + 2 * margin) * size)
        box.append((max(0, int(centre - size / 2)), min(selected.shape[axis], int(centre + size / 2))))
    return tuple(box)


def localiser_box(images, card, *, device=None, trust_code=False) -> tuple | None:
    """The box (start, stop per k, j, i voxel axis of ``images[0]``) the card's localiser predicts, or None
    when the card has no localiser. Nothing predicted is a one-line error naming the localiser."""
    spec = getattr(card, "localiser", None)
    if spec is None:
        return None
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.model_call import model_output  # noqa: PLC0415  (torch)
    from ..core.model_guard import guarded  # noqa: PLC0415  (torch)
    from ..core.targets import resolve_activation  # noqa: PLC0415  (torch)
    from ..models.loading import load_model  # noqa: PLC0415  (torch)
    from ..volumes.geometry import to_model  # noqa: PLC0415
    from ..volumes.native_labels import predict  # noqa: PLC0415

    loaded = load_model(spec.model, spec.card, trust_code=trust_code, device=device)
    first = spec.card
    model_input = to_model(images, first)
    param = next(loaded.module.parameters(), None)
    x = model_input.tensor.to(param.device if param is not None else "cpu")
    with guarded(loaded.module), torch.no_grad():
        output = model_output(loaded.module, x, first.output.key, first.inference if first.inference.sliding else None)
    activation, _ = resolve_activation(first.output.activation, output)
    labels = sitk.GetArrayFromImage(predict(output.float().cpu().numpy(), activation, first.output, model_input))
    selected = labels == spec.label if spec.label is not None else labels != 0
    if not selected.any():
        what = f"label {spec.label}" if spec.label is not None else "any foreground"
        raise SaliencyError(
            f"the card's localiser ({spec.model}) predicts no voxel of {what} on this volume, so "
            "there is no box for the model to look at. Check the volume (orientation, "
            "modality) or the localiser's card."
        )
    return grown_box(selected, spec.box_margin)
