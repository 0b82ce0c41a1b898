"""The model card: what a model expects as input and gives as output (JSON; schema in ``card_schema.json``).

Why: a heatmap can only be mapped back onto the anatomy if we know the grid the model saw: its
orientation, spacing, size, centre, tensor axis order and intensity scaling. The card says all of it, once,
next to the model file. ``spec`` holds what a card says, ``parsing`` reads it strictly (an unknown field or
a wrong type raises :class:`CardError` naming the field and the fix), ``to_json`` writes it back. Every
field has a default, documented in ``docs/model-card.md``.

    card = load_card("model.json")       # or a dict, or a ModelCard, or None (all defaults)
"""

from .parsing import find_card_for, load_card, parse_card
from .spec import (
    SCHEMA_PATH,
    SLICE_AXES,
    CropSpec,
    InferenceSpec,
    InputSpec,
    Intensity,
    IntensityChain,
    IntensityStep,
    LocaliserSpec,
    ModelCard,
    OutputSpec,
    SmoothSpec,
)
from .to_json import card_to_dict

__all__ = [
    "SCHEMA_PATH",
    "SLICE_AXES",
    "CropSpec",
    "InferenceSpec",
    "InputSpec",
    "Intensity",
    "IntensityChain",
    "IntensityStep",
    "LocaliserSpec",
    "ModelCard",
    "OutputSpec",
    "SmoothSpec",
    "card_to_dict",
    "find_card_for",
    "load_card",
    "parse_card",
]
