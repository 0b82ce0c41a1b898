"""Chained models: a first model runs before the one explained. A card's ``localiser`` places the box the
explained model sees; a card's ``previous_stage`` (nnU-Net's cascade) gives its labels as extra input channels.

Why: deepbet (brain extraction) and nnU-Net's cascades run a first network to find where to look, and the
network explained runs only there (deepbet: the box of the first network's brain mask, plus 10% each
side). A fixed crop cannot say that: a scan with the neck in view moves the box. The localiser runs as its
own card says (grid, intensity, windows, postprocessing); its prediction on the volume's own grid gives the
box; ``volumes.geometry.to_model(box=)`` crops the volume to it, and the map still goes back to the whole
volume (0 outside the box, where the explained model never looked). A cascade's second stage sees the
image and its first stage's prediction (one-hot, one channel per foreground label), so the first stage runs as
nnU-Net runs it (``nnUNetv2_predict`` with mirroring) and its labels enter ``to_model(previous=)``.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import SaliencyError
from ..volumes.geometry import as_3d, to_model


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


def first_stage_labels(images, model, card, *, device=None, trust_code=False) -> np.ndarray:
    """The label array (k, j, i on ``images[0]``'s grid) a first model predicts as its own card says: its grid,
    intensity, windows, test-time mirroring (nnU-Net's default) and postprocessing."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.model_call import model_output  # noqa: PLC0415  (torch)
    from ..core.model_guard import guarded  # noqa: PLC0415  (torch)
    from ..core.targets import resolve_activation  # noqa: PLC0415  (torch)
    from ..models.loading import load_model  # noqa: PLC0415  (torch)
    from ..models.nnunet import MirrorEnsemble  # noqa: PLC0415  (torch)
    from ..volumes.native_labels import predict  # noqa: PLC0415

    loaded = load_model(model, card, trust_code=trust_code, device=device)
    first = loaded.card
    if first.previous_stage is not None or first.localiser is not None:
        raise SaliencyError(
            f"the first stage {model} chains a model itself; chain two models only (give it a card "
            "without localiser or previous_stage)."
        )
    model_input = to_model(images, first)
    module = loaded.module
    if first.inference.mirror_axes:
        module = MirrorEnsemble(module, first.inference.mirror_axes)
    param = next(loaded.module.parameters(), None)
    x = model_input.tensor.to(param.device if param is not None else "cpu")
    with guarded(loaded.module), torch.no_grad():
        output = model_output(module, x, first.output.key, first.inference if first.inference.sliding else None)
    activation, _ = resolve_activation(first.output.activation, output)
    return sitk.GetArrayFromImage(predict(output.float().cpu().numpy(), activation, first.output, model_input))


def localiser_box(images, card, *, device=None, trust_code=False) -> tuple | None:
    """The box (start, stop per k, j, i voxel axis of ``images[0]``) the card's localiser predicts, or None
    when the card has no localiser. Nothing predicted is a one-line error naming the localiser."""
    spec = getattr(card, "localiser", None)
    if spec is None:
        return None
    labels = first_stage_labels(images, spec.model, spec.card, device=device, trust_code=trust_code)
    selected = labels == spec.label if spec.label is not None else labels != 0
    if not selected.any():
        what = f"label {spec.label}" if spec.label is not None else "any foreground"
        raise SaliencyError(
            f"the card's localiser ({spec.model}) predicts no voxel of {what} on this volume, so "
            "there is no box for the model to look at. Check the volume (orientation, "
            "modality) or the localiser's card."
        )
    return grown_box(selected, spec.box_margin)


def previous_stage_labels(images, card, *, device=None, trust_code=False) -> sitk.Image | None:
    """A cascade's first stage prediction on ``images[0]``'s grid (the label image ``to_model(previous=)``
    turns into the card's ``previous_stage`` channels), or None when the card has no previous stage. An
    empty first-stage prediction is valid input (nnU-Net passes it on too)."""
    spec = getattr(card, "previous_stage", None)
    if spec is None:
        return None
    labels = first_stage_labels(images, spec.model, spec.card, device=device, trust_code=trust_code)
    image = sitk.GetImageFromArray(labels.astype(np.int16))
    image.CopyInformation(as_3d(images[0] if isinstance(images, (list, tuple)) else images))
    return image


def chained_model_input(images, card, *, device=None, trust_code=False):
    """``to_model`` for a card that may chain a first model: the localiser's box, the previous stage's labels."""
    box = localiser_box(images, card, device=device, trust_code=trust_code)
    previous = previous_stage_labels(images, card, device=device, trust_code=trust_code)
    return to_model(images, card, box=box, previous=previous)
