"""The card's words for how the prediction is made (output.threshold, smooth, resample, largest_component) and
for taps' preprocessing (zscore nonzero, crop_foreground allow_smaller): parsed strictly, written back, in the
JSON schema."""

import json

import pytest
from SaliencyExplorerLib.card import SCHEMA_PATH, SmoothSpec, card_to_dict, parse_card
from SaliencyExplorerLib.errors import CardError

TAPS = {
    "task": "segmentation",
    "input": {"intensity": [{"zscore": {"nonzero": True}}], "crop_foreground": {"margin": 5, "allow_smaller": False}},
    "output": {
        "activation": "sigmoid",
        "threshold": 0.55,
        "resample": "logits",
        "largest_component": True,
        "smooth": {"sigma": 2.5, "kernel": "sampled", "edges": "nearest"},
    },
}


def test_the_fields_are_read_and_written_back():
    card = parse_card(TAPS)
    assert card.output.smooth == SmoothSpec((2.5,), "sampled", "nearest") and card.output.threshold == 0.55
    assert card.input.crop_foreground.allow_smaller is False
    assert parse_card(card_to_dict(card)) == card
    default = parse_card({})
    assert (default.output.threshold, default.output.resample, default.output.smooth) == (0.5, "auto", None)
    assert default.output.largest_component is False


@pytest.mark.parametrize(
    "change, field",
    [
        ({"output": {"threshold": 1.5}}, "output.threshold"),
        ({"output": {"threshold": True}}, "output.threshold"),
        ({"output": {"resample": "nearest"}}, "output.resample"),
        ({"output": {"smooth": {}}}, "output.smooth.sigma"),
        ({"output": {"smooth": {"sigma": -1}}}, "output.smooth.sigma"),
        ({"output": {"smooth": {"sigma": 1, "kernel": "box"}}}, "output.smooth.kernel"),
        ({"output": {"largest_component": "yes"}}, "output.largest_component"),
        ({"input": {"crop_foreground": {"allow_smaller": 0}}}, "input.crop_foreground.allow_smaller"),
        ({"input": {"intensity": [{"zscore": {"nonzero": 1}}]}}, "nonzero"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(change, field):
    with pytest.raises(CardError, match=field.replace(".", r"\.")) as info:
        parse_card(change)
    assert "\n" not in str(info.value)


def test_schema_accepts_and_rejects_like_the_parser():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert validator.is_valid(TAPS)
    assert not validator.is_valid({"output": {"threshold": 1.5}})
    assert not validator.is_valid({"output": {"smooth": {"kernel": "erf"}}})
    chained = {**TAPS, "localiser": {"model": "first.pt", "card": TAPS, "label": 1, "box_margin": 0.1}}
    assert validator.is_valid(chained) and parse_card(chained).localiser.box_margin == 0.1
    assert not validator.is_valid({"localiser": {"model": "first.pt"}})
