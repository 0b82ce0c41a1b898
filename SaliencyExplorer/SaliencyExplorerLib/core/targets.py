"""What is explained: a score per sample computed from the model's output.

Every target is a `Target` whose `score(output, rows)` gives one score per row of a (possibly perturbed)
batch; `rows[j]` says which original sample row j belongs to, so perturbation methods can batch many
variants of one sample and still score each against that sample's class or region.
"""

from __future__ import annotations

import abc
import numbers
from typing import Callable

import torch

from ..errors import SaliencyError


def pick_output(output, key):
    """The tensor the target reads from a model output that may be a tuple, list or dict."""
    if isinstance(output, torch.Tensor):
        return output
    if key is None:
        if isinstance(output, dict):
            raise SaliencyError(f"The model returns a dict with keys {list(output)}; choose one with output_key=<key>.")
        if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            raise SaliencyError(
                f"The model returns a {type(output).__name__} of {len(output)} elements; choose one with "
                f"output_key=<index> (for example output_key=0)."
            )
    try:
        value = output[key]
    except (KeyError, IndexError, TypeError):
        raise SaliencyError(f"The model's output has no element {key!r}.") from None
    if not isinstance(value, torch.Tensor):
        raise SaliencyError(f"The model's output element {key!r} is not a tensor.")
    return value


def activate(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Probabilities from logits along the class axis: softmax, sigmoid, or the logits themselves."""
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    return logits


def default_activation(num_classes: int) -> str:
    """Softmax for several output classes, sigmoid for one (decided by the OUTPUT, never the input)."""
    return "sigmoid" if num_classes == 1 else "softmax"


PROBABILITY_TOLERANCE = 1e-4
ALREADY_PROBABILITIES = (
    "The model's output is already probabilities (non-negative, summing to 1 over the classes for every "
    'sample/voxel), so no softmax/sigmoid was applied again. Set "output": {"activation": "none"} in '
    'the model card to say so explicitly (or "softmax"/"sigmoid" if these are really logits).'
)


def is_probabilities(output: torch.Tensor) -> bool:
    """True when ``output`` (N, K>1, ...) is non-negative and sums to 1 over the class axis everywhere
    (within 1e-4): a model that ends in its own softmax."""
    if not isinstance(output, torch.Tensor) or output.dim() < 2 or output.shape[1] < 2 or output.numel() == 0:
        return False
    values = output.detach()
    if not values.is_floating_point() or not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
        return False
    return bool(((values.double().sum(dim=1) - 1.0).abs() <= PROBABILITY_TOLERANCE).all())


def resolve_activation(activation: str, output: torch.Tensor) -> tuple[str, str | None]:
    """(activation, warning or None): ``"auto"`` becomes softmax/sigmoid by the class count, or ``"none"``
    (with a warning) when the output already is probabilities; an explicit choice is kept as given."""
    if activation != "auto":
        return activation, None
    if is_probabilities(output):
        return "none", ALREADY_PROBABILITIES
    k = output.shape[1] if output.dim() > 1 else 1
    return default_activation(k), None


class Target(abc.ABC):
    """Base: `classes` per sample (or None), and `score(output, rows, probability)`."""

    classes: list | None = None
    notes: tuple = ()  # warnings for the user about how the target was resolved (the run reports them)

    @abc.abstractmethod
    def score(self, output: torch.Tensor, rows: torch.Tensor, probability: bool = False) -> torch.Tensor:
        """One score per row of `output`; `rows[j]` is the original sample of row j."""

    def flipped(self, axes) -> "Target":
        """The same target for an input flipped along `axes` (spatial axes of the output)."""
        return self


class ClassTarget(Target):
    """The logit (or probability) of one class per sample: classification and multi-label outputs."""

    def __init__(self, classes: list[int], activation: str):
        self.classes = classes
        self.activation = activation

    def score(self, output, rows, probability=False):
        values = activate(output, self.activation) if probability else output
        values = values.reshape(values.shape[0], -1) if values.dim() > 2 else values
        index = torch.as_tensor(self.classes, device=output.device)[rows]
        return values.gather(1, index[:, None]).squeeze(1)


class RegionTarget(Target):
    """Segmentation: class k's logits (or probabilities) summed over a region mask per sample."""

    def __init__(self, classes: list[int], masks: torch.Tensor, activation: str):
        self.classes = classes
        self.masks = masks  # (N, *spatial) float
        self.activation = activation

    def score(self, output, rows, probability=False):
        values = activate(output, self.activation) if probability else output
        index = torch.as_tensor(self.classes, device=output.device)[rows]
        picked = values[torch.arange(values.shape[0], device=values.device), index]
        masks = self.masks.to(values.device)[rows]
        total = (picked * masks).flatten(1).sum(1)
        return total / masks.flatten(1).sum(1).clamp_min(1.0) if probability else total

    def flipped(self, axes):
        dims = [a + 1 for a in axes]
        return RegionTarget(self.classes, torch.flip(self.masks, dims), self.activation)


class CallableTarget(Target):
    """Any `callable(output) -> (rows,)` score supplied by the caller."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def score(self, output, rows, probability=False):
        value = self.fn(output)
        if not isinstance(value, torch.Tensor) or value.dim() != 1 or value.shape[0] != output.shape[0]:
            raise SaliencyError(
                "A callable target must return a 1-D tensor with one score per sample; got "
                f"{getattr(value, 'shape', type(value).__name__)}."
            )
        return value


def _class_list(target, n: int, num_classes: int, default: list[int]) -> list[int]:
    if target is None:
        return default
    values = [target] * n if isinstance(target, numbers.Integral) else list(target)
    if len(values) != n:
        raise SaliencyError(f"Got {len(values)} targets for a batch of {n}; give one per sample or a single int.")
    out = []
    for v in values:
        if v is None:
            out.append(default[len(out)])
            continue
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = int(v)
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise SaliencyError(f"Target {v!r} is not a class index (an int).")
        if not 0 <= v < num_classes:
            raise SaliencyError(
                f"Target class {v} is out of range: the model has {num_classes} output classes (0..{num_classes - 1})."
            )
        out.append(int(v))
    return out


def resolve_target(
    target, output: torch.Tensor, spatial_dims: int, task: str | None = None, mask=None, activation: str = "auto"
) -> Target:
    """Turn the caller's `target` (None, int, list, callable) into a Target for this output.

    Segmentation: the region is `mask` (a caller's region), or where the model predicts the class: the argmax
    (a single channel, or each of several sigmoid channels, which are multi-label: logit > 0), or
    `mask(output)` when `mask` is a callable giving the predicted labels (N, *spatial) or, multi-label, each
    channel's decision (N, K, *spatial), e.g. after the card's postprocessing."""
    if callable(target):
        return CallableTarget(target)
    if target is not None and not isinstance(target, (numbers.Integral, list, tuple)):
        if isinstance(target, torch.Tensor) and target.dim() <= 1:
            target = target.tolist()
        else:
            raise SaliencyError(
                f"target must be None, a class index, a list of indices or a callable; got {type(target).__name__}."
            )
    n, k = output.shape[0], output.shape[1] if output.dim() > 1 else 1
    if task is None:
        task = "segmentation" if output.dim() == spatial_dims + 2 and spatial_dims > 0 else "classification"
    activation, note = resolve_activation(activation, output)
    if task == "classification":
        if mask is not None:  # an error, not a warning: a map "of the region" that ignores it would mislead
            raise SaliencyError(
                "A region mask selects voxels of a segmentation output, but this is a classification model "
                "(one score per class): the mask would be ignored. Leave the region mask out, or set "
                "task 'segmentation' in the card if the model outputs a map."
            )
        if output.dim() != 2:
            raise SaliencyError(
                f"A classification target needs an output of shape (N, classes); the model gives "
                f"{tuple(output.shape)}. For per-voxel outputs use task='segmentation'."
            )
        top = output.argmax(dim=1).tolist() if k > 1 else [0] * n
        return _noted(ClassTarget(_class_list(target, n, k, top), activation), note)
    if task != "segmentation":
        raise SaliencyError(f"task must be 'classification' or 'segmentation', not {task!r}.")
    if output.dim() < 3:
        raise SaliencyError(f"A segmentation target needs an output (N, K, *spatial); got {tuple(output.shape)}.")
    if callable(mask):  # the model's own answer as the card makes it (smoothing, threshold, ...): labels
        predicted, mask = torch.as_tensor(mask(output), device=output.device).long(), None
    elif activation == "sigmoid" and k > 1:  # multi-label: each channel its own yes/no (sigmoid > 0.5)
        predicted = (output > 0).long()
    else:
        predicted = output.argmax(dim=1) if k > 1 else (output[:, 0] > 0).long()
    per_channel = predicted.dim() == output.dim()  # (N, K, *spatial): multi-label decisions
    if target is None:  # the most frequently predicted foreground class per sample (class 0 = background)
        default = []
        for i in range(n):
            if per_channel:  # every channel is a foreground class
                default.append(int(predicted[i].flatten(1).sum(1).argmax()))
                continue
            counts = torch.bincount(predicted[i].flatten(), minlength=k)
            if k > 1:
                counts[0] = -1
            default.append(int(counts.argmax()) if k > 1 else 0)
    else:
        default = [0] * n
    classes = _class_list(target, n, k, default)
    if mask is not None:
        masks = torch.as_tensor(mask, device=output.device)
        if masks.dim() == spatial_dims:
            masks = masks.unsqueeze(0).expand(n, *masks.shape)
        if tuple(masks.shape) != (n, *output.shape[2:]):
            raise SaliencyError(
                f"The region mask has shape {tuple(masks.shape)}; it must be {(n, *output.shape[2:])} "
                f"(one mask per sample on the model output's grid)."
            )
        masks = masks.float()
    else:
        if per_channel:
            masks = torch.stack([predicted[i, c] > 0 for i, c in enumerate(classes)]).float()
        elif k > 1:
            masks = torch.stack([(predicted[i] == c) for i, c in enumerate(classes)]).float()
        else:
            masks = (predicted == 1).float()
        empty = masks.flatten(1).sum(1) == 0
        masks[empty] = 1.0  # nothing predicted: explain the class over the whole image, and say so
        notes = [empty_prediction_note(classes[i], i, n) for i in range(n) if bool(empty[i])]
        return _noted(RegionTarget(classes, masks, activation), note, *notes)
    return _noted(RegionTarget(classes, masks, activation), note)


def empty_prediction_note(cls: int, sample: int, n: int) -> str:
    """Why a map of a class nobody sees is not what it looks like: what was explained instead."""
    where = f" in sample {sample}" if n > 1 else ""
    return (
        f"The model predicts no voxel of class {cls}{where}: there is no predicted region to explain, so the "
        f"map explains class {cls}'s output summed over the whole image instead. Give a region (mask, box or "
        f"point) to explain a chosen area, or check the input (orientation, intensity) if class {cls} should "
        f"be there."
    )


def _noted(target: Target, *notes) -> Target:
    """The target, carrying warnings (how its activation was chosen, an empty prediction) the run reports."""
    target.notes = tuple(note for note in notes if note)
    return target
