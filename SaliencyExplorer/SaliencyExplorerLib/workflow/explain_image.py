"""``explain_image()``: image(s) + model + card -> a heatmap image on the source's own grid.

Why: the one function every front door (CLI, Slicer logic, worker, demo) calls, so that geometry, card,
target naming and timings are handled once. Flow: card -> model grid in patient space -> tensor ->
engine -> map(s) on the model grid -> the first input's own grid (0 outside the model's field of view).

    result = explain_image(image, "model.pt", method="gradcam", target="lesion")
    result.heatmap_image   # sitk float32, same size/spacing/origin/direction as image, values in [0, 1]
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..card import ModelCard, load_card, parse_card
from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from ..figures.annotate import tag_heatmap
from ..volumes.geometry import (
    ModelInput,
    check_grid_memory,
    heatmap_to_native,
    mask_to_model,
    peak_lps,
    ras_from_lps,
)
from ..volumes.native_labels import predict
from ..volumes.prediction import activate, labels_rule, postprocessed, region_labels
from . import regions
from .localiser import chained_model_input


@dataclass
class VolumeExplanation:
    r"""``explain_image``'s result: the heatmap on the source's own grid (SimpleITK, [0, 1], 0 outside the
    model's field of view), the map on the model grid, the engine's ``Explanation``, the explained class
    (index, name, probability), the peak in LPS and RAS millimetres, timings, the model input and the card."""

    heatmap_image: sitk.Image  # float32 on images[0]'s own grid, [0, 1], 0 outside the model's FOV
    model_heatmap: np.ndarray  # (N, *spatial) on the model grid, in the model's tensor layout
    explanation: object  # the engine's Explanation (raw maps, scores, provenance)
    target_index: int | None
    target_name: str | None
    score: float | None  # the target's probability (card activation), mean over the region for segmentation
    peak_lps: np.ndarray | None  # mm, of the native heatmap's maximum
    peak_ras: np.ndarray | None
    timings: dict = field(default_factory=dict)  # seconds: load, to_model, explain, to_native, total
    model_input: ModelInput | None = None
    card: ModelCard | None = None
    warnings: list = field(default_factory=list)
    # the model's own answer (from the clean pass the explanation ran anyway: no extra model call)
    prediction_image: sitk.Image | None = None  # segmentation: label map on images[0]'s own grid (0 = background)
    prediction_scores: dict | None = None  # classification: {class name: probability}

    def prediction_labels(self) -> dict:
        """{label value: class name} of ``prediction_image`` (without the background 0 of a multi-class
        output; a single sigmoid channel is value 1; several sigmoid channels draw their ``region_labels``)."""
        if self.prediction_image is None:
            return {}
        names = self.card.classes if self.card is not None and self.card.classes else ()
        count = int(self.explanation.scores.shape[1])
        if count == 1:
            return {1: names[0] if names else "class 0"}
        output = self.card.output if self.card is not None else None
        regions = region_labels(getattr(self.explanation, "output_activation", None), count, output)
        if regions is not None:
            return {label: names[c] if c < len(names) else f"class {c}" for c, label in enumerate(regions)}
        return {k: names[k] if k < len(names) else f"class {k}" for k in range(1, count)}


def _default_card(images) -> ModelCard:
    """No card: the volume's own grid, as many channels as images, 2D model for 2D images."""
    dims = 2 if all(img.GetDimension() == 2 for img in images) else 3
    return parse_card({"spatial_dims": dims, "in_channels": len(images)})


def prediction_rule(card, options):
    """The engine's region rule when the card's prediction is postprocessed (a segmentation target then
    covers what the card predicts, not the plain argmax); None otherwise."""
    if options.get("task") != "segmentation" or not postprocessed(card.output):
        return None
    return labels_rule(card.output, options.get("output_activation", card.output.activation))


def _stack_target(model, tensor, options):
    """One class for every slice of a 2D stack: the class with the highest logit in any slice."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.engine import prepare_input  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.model_call import call_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.model_guard import guarded  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.targets import pick_output  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    x = prepare_input(tensor, model)
    with guarded(model), torch.no_grad():  # eval mode, as explain() runs it: no batch-norm update
        out = pick_output(call_model(model, x), options.get("output_key"))
    if out.dim() != 2:
        return None
    return int(out.max(dim=0).values.argmax())


def _activation(explanation, options) -> str:
    """The activation the engine resolved (the card's, or "auto": softmax/sigmoid, none for an output that
    already is probabilities)."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.targets import resolve_activation  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    activation = getattr(explanation, "output_activation", None)
    if activation is None:
        scores = torch.from_numpy(np.ascontiguousarray(explanation.scores))
        activation, _ = resolve_activation(options.get("output_activation", "auto"), scores)
    return activation


def _probabilities(explanation, options) -> np.ndarray:
    """The model's clean output as probabilities, with the activation the engine resolved."""
    return activate(explanation.scores, _activation(explanation, options), axis=1).astype(np.float32)


def _prediction(explanation, card, options, model_input, task):
    """(label image on the source grid, None) for segmentation, (None, {class: probability}) for
    classification: the model's answer from the clean output the explanation already computed (the
    blended output under sliding windows)."""
    scores = explanation.scores
    if not isinstance(scores, np.ndarray) or scores.ndim < 2:
        return None, None
    if scores.ndim == 2:  # classification: one score per class (a 2D stack: each class's highest slice)
        if task == "segmentation":
            return None, None
        probs = _probabilities(explanation, options)
        per_class = probs.max(axis=0) if probs.shape[0] > 1 else probs[0]
        return None, {(card.class_name(k) or str(k)): float(v) for k, v in enumerate(per_class)}
    return predict(scores, _activation(explanation, options), card.output, model_input), None


def _score(explanation, target, card, options, mask):
    """The explained class's probability (per the card's activation); mean over the region for segmentation."""
    scores = explanation.scores
    if target is None or not isinstance(scores, np.ndarray) or scores.ndim < 2 or target >= scores.shape[1]:
        return None
    prob = _probabilities(explanation, options)[:, target]
    if prob.ndim == 1:
        return float(prob.max())
    multi_label = _activation(explanation, options) == "sigmoid"  # each channel its own yes/no
    if mask is not None:
        region = mask
    else:
        region = scores.argmax(axis=1) == target if scores.shape[1] > 1 and not multi_label else prob > 0.5
    region = np.asarray(region, dtype=bool)
    return float(prob[region].mean()) if region.any() else float(prob.mean())


def _mirroring(module, card, method, disable_tta, warnings):
    """(the module explained, the module whose output is the prediction or None when it is the same) for a
    card with ``inference.mirror_axes`` (nnU-Net's test-time mirroring). Gradient and perturbation methods
    explain the mirrored ensemble itself (its gradient is the mean of the passes' flipped back); a method that
    captures a layer explains the plain network, and the prediction comes from one extra mirrored pass."""
    axes = card.inference.mirror_axes
    if not axes or disable_tta:
        return module, None
    from ..core.method import get_method  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..models.nnunet import MirrorEnsemble  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    mirrored = MirrorEnsemble(module, axes)
    if not get_method(method).uses_layers:
        return mirrored, None
    warnings.append(
        f"{method} explains the network without test-time mirroring (a captured layer runs once per "
        f"mirrored pass); the prediction is the mirrored one over axes {list(axes)}. Use a gradient "
        "method to explain the mirrored prediction, or disable_tta / --disable-tta for both un-mirrored."
    )
    return module, mirrored


def _clean_scores(module, model_input, card, options) -> np.ndarray:
    """The model's blended output on the model grid (one forward pass, or the card's sliding windows)."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.model_call import call_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.model_guard import guarded  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.sliding_window import SlidingWindow, WindowPlan  # noqa: PLC0415  (torch: lazy)
    from ..core.targets import pick_output  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    x = model_input.tensor

    def call(w):
        return pick_output(call_model(module, w), options.get("output_key"))

    with guarded(module), torch.no_grad():
        if card.inference.sliding:
            out = WindowPlan(SlidingWindow.of(card.inference), x.shape[2:], x.dtype, x.device).infer(call, x)
        else:
            out = call(x)
    return out.detach().cpu().numpy()


def explain_image(
    images,
    model,
    card=None,
    method=DEFAULT_METHOD,
    layers=None,
    target=None,
    *,
    device=None,
    region_mask=None,
    region_box=None,
    region_at=None,
    progress=None,
    cancel=None,
    trust_code=False,
    trust_pickle=False,
    disable_tta=False,
    **options,
):
    """Explain ``model`` on ``images`` (a SimpleITK image or one per channel) -> :class:`VolumeExplanation`.

    ``card``: ModelCard | dict | path | None (a model file's card is found beside it). ``target``: None
    (top class), a class index, or a class name from the card. ``region_mask``: a mask image (any grid)
    for segmentation targets, brought to the model grid with nearest neighbour; or ``region_box`` (two RAS
    corners, mm) or ``region_at`` (a RAS point: the predicted component of the target class there; one extra
    inference; see ``workflow.regions``). A card with sliding-window
    ``inference`` explains the blended output over the whole grid (progress then counts windows). Other
    ``options`` go to the engine (batch_size, method options, ...). The inputs are never modified.
    ``trust_code``: allow a model file or card that runs code (see ``models.loading.load_model``);
    ``trust_pickle`` is an alias. A card with ``inference.mirror_axes`` (nnU-Net folders) predicts with
    test-time mirroring, as nnU-Net; ``disable_tta=True`` turns it off (nnU-Net's ``--disable_tta``).
    """
    from ..core.engine import explain  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..core.maps import to_heatmap  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    taken = sorted({"model", "x", "mask"} & set(options))  # given to the engine from the image and the region
    if taken:
        raise SaliencyError(
            f"option {taken[0]!r} is not a method or engine option: it comes from the image, the "
            "model and the region given. Remove it (see the method's options)."
        )
    started = time.perf_counter()
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    from ..models.loading import resolve_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    module, card_obj = resolve_model(
        model, None if card is None else load_card(card), device, trust_code=trust_code or trust_pickle
    )
    no_card = card_obj is None  # then the task is the engine's to infer from the output's shape
    card_obj = load_card(card_obj) if card_obj is not None else _default_card(images)
    timings = {"load": time.perf_counter() - started}
    mirror_warnings = []
    module, predictor = _mirroring(module, card_obj, method, disable_tta, mirror_warnings)

    tick = time.perf_counter()
    model_input = chained_model_input(images, card_obj, device=device, trust_code=trust_code or trust_pickle)
    mask = None if region_mask is None else mask_to_model(region_mask, model_input)
    timings["to_model"] = time.perf_counter() - tick

    if not no_card:
        options.setdefault("task", card_obj.task)
    options.setdefault("output_activation", card_obj.output.activation)
    if card_obj.output.key is not None:
        options.setdefault("output_key", card_obj.output.key)
    if card_obj.inference.sliding:  # the model runs as MONAI's sliding_window_inference: explain that
        options.setdefault("sliding_window", card_obj.inference)
    if layers is None:
        layers = list(card_obj.target_layer) if isinstance(card_obj.target_layer, tuple) else card_obj.target_layer
    if isinstance(target, str):
        target = card_obj.class_index(target)
    rule = prediction_rule(card_obj, options)
    given = [
        name
        for name, value in (("region_mask", region_mask), ("region_box", region_box), ("region_at", region_at))
        if value is not None
    ]
    if len(given) > 1:
        raise SaliencyError(f"give one region, not {' and '.join(given)}: each says which voxels are explained.")
    regions.check_region(region_box, region_at)
    if region_box is not None:
        mask = regions.box_mask(model_input, region_box)
    elif region_at is not None:
        if not isinstance(target, int):
            raise SaliencyError(
                "region_at picks the predicted component of the target class: name the class (target=... / --target)."
            )
        labels = regions.predicted_labels(module, model_input, card_obj, options, target)
        mask = regions.component_mask(labels, model_input, region_at, target)
    stacked = card_obj.spatial_dims == 2 and model_input.tensor.shape[0] > 1
    if stacked and target is None and options.get("task") in (None, "classification"):
        target = _stack_target(module, model_input.tensor, options)

    tick = time.perf_counter()
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    batch = options.get("batch_size")
    if isinstance(batch, int) and batch > 1:  # many-pass methods hold `batch` copies of the input at once
        check_grid_memory(model_input.grid, card_obj, batch * model_input.tensor.shape[0])
    result = explain(
        module,
        model_input.tensor,
        method=method,
        layers=layers,
        target=target,
        mask=rule if mask is None else torch.from_numpy(mask),
        progress=progress,
        cancel=cancel,
        **options,
    )
    timings["explain"] = time.perf_counter() - tick

    tick = time.perf_counter()
    maps = result.heatmap
    if stacked:  # one scale for the whole stack, so slices compare (the engine normalises per sample)
        raw = torch.from_numpy(np.ascontiguousarray(result.raw)).reshape(1, -1)
        maps = to_heatmap(raw, result.signed).reshape(result.raw.shape).numpy()
    heat = sitk.Clamp(heatmap_to_native(maps, model_input), sitk.sitkFloat32, 0.0, 1.0)
    task = options.get("task") or ("segmentation" if np.ndim(result.scores) > 2 else "classification")
    answer = result
    if predictor is not None:  # the explanation ran un-mirrored: the prediction is nnU-Net's mirrored one
        answer = copy.copy(result)
        answer.scores = _clean_scores(predictor, model_input, card_obj, options)
    prediction_image, prediction_scores = _prediction(answer, card_obj, options, model_input, task)
    timings["to_native"] = time.perf_counter() - tick

    explained = result.target[0] if result.target else None
    peak = peak_lps(heat)
    score = _score(result, explained, card_obj, options, mask)
    tag_heatmap(heat, result.method, card_obj.class_name(explained), score)  # the heatmap file titles its figures
    timings["total"] = time.perf_counter() - started
    return VolumeExplanation(
        heatmap_image=heat,
        model_heatmap=np.asarray(maps, dtype=np.float32),
        explanation=result,
        target_index=explained,
        target_name=card_obj.class_name(explained),
        score=score,
        peak_lps=peak,
        peak_ras=ras_from_lps(peak),
        timings=timings,
        model_input=model_input,
        card=card_obj,
        warnings=list(result.warnings) + mirror_warnings,
        prediction_image=prediction_image,
        prediction_scores=prediction_scores,
    )
