"""The two fields that chain a first model to the card's: ``localiser`` (its box crops the volume) and
``previous_stage`` (its labels are extra input channels, nnU-Net's cascade). Each names a model file (beside
the card) and that model's own card."""

from __future__ import annotations

from pathlib import Path

from ..errors import CardError
from .readers import _fail, _int, _number, _object, _str
from .spec import LocaliserSpec, PreviousStageSpec


def _beside(model: str, where: str, path) -> str:
    """A model file named by a card: relative paths are beside the card, resolved now (the card can travel)."""
    if not model:
        _fail(where, "empty", "Give the model file or folder, relative to the card.")
    folder = Path(path).parent if path is not None else None
    return str(folder / model) if folder is not None and not Path(model).is_absolute() else model


def _chained_card(card, where: str, path, read):
    """A chained model's card: an object (parsed with this card's path) or a card file beside this card.
    ``read(value, path)`` is the card parser itself (passed in: a card inside a card)."""
    if isinstance(card, str):
        folder = Path(path).parent if path is not None else None
        return read(Path(card) if folder is None or Path(card).is_absolute() else folder / card, None)
    if isinstance(card, dict):
        try:
            return read(card, path)
        except CardError as exc:
            raise CardError(f"{exc} (in {where})") from None
    _fail(where, f"expected a card object or a card file, got {card!r}", "Write {...} or a path.")


def previous_stage(value, path, channels: int, read):
    """previous_stage: {"model": file or folder, "card": {...}, a card file or absent (a folder's own),
    "labels": [1, 2]} (see PreviousStageSpec)."""
    if value is None:
        return None
    _object(value, "previous_stage", {"model", "card", "labels"}, required=("model", "labels"))
    model = _beside(_str(value["model"], "previous_stage.model"), "previous_stage.model", path)
    card = value.get("card")
    card = None if card is None else _chained_card(card, "previous_stage.card", path, read)
    if card is not None and (card.previous_stage is not None or card.task != "segmentation"):
        _fail("previous_stage.card", "is not a one-stage segmentation card", "Chain two stages of segmentation.")
    labels = value["labels"]
    if not isinstance(labels, list) or not labels or not all(type(v) is int and 0 < v < 2**15 for v in labels):
        _fail("previous_stage.labels", f"expected a list of label values 1..32767, got {labels!r}", "E.g. [1, 2].")
    if len(labels) >= channels:
        _fail(
            "previous_stage.labels",
            f"has {len(labels)} label channels but in_channels is {channels}",
            "in_channels counts the image channels and the previous stage's label channels.",
        )
    return PreviousStageSpec(model=model, card=card, labels=tuple(labels))


def localiser(value, path, read):
    """localiser: {"model": file, "card": {...} or a card file, "label": k, "box_margin": 0.1} (see LocaliserSpec).
    Relative files are beside the card, resolved now so that the card can travel (the worker's job folder)."""
    if value is None:
        return None
    _object(value, "localiser", {"model", "card", "label", "box_margin"}, required=("model", "card"))
    model = _beside(_str(value["model"], "localiser.model"), "localiser.model", path)
    card = _chained_card(value["card"], "localiser.card", path, read)
    if card.localiser is not None:
        _fail(
            "localiser.card.localiser", "a localiser of a localiser", "Chain two models: give the first no localiser."
        )
    label = value.get("label")
    margin = _number(value.get("box_margin", 0.0), "localiser.box_margin")
    if margin < 0:
        _fail("localiser.box_margin", f"must be >= 0, got {margin}", "Use a fraction of the box such as 0.1.")
    return LocaliserSpec(
        model=model, card=card, label=None if label is None else _int(label, "localiser.label", 0), box_margin=margin
    )
