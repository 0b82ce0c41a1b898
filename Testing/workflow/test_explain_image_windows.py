"""The card's `inference` section (MONAI's sliding-window names) and explain_image over windows."""

import json

import pytest

from SaliencyExplorerLib.card import SCHEMA_PATH, InferenceSpec, parse_card
from SaliencyExplorerLib.errors import CardError

SLIDING = {"mode": "sliding_window", "roi_size": [16, 16, 16], "overlap": 0.5, "blend": "gaussian",
           "sigma_scale": 0.125, "padding_mode": "constant", "sw_batch_size": 2}


def card(inference, **more):
    return {"task": "segmentation", "inference": inference, **more}


def test_sliding_window_card_is_parsed():
    spec = parse_card(card(SLIDING)).inference
    assert spec.sliding and spec.roi_size == (16, 16, 16) and spec.overlap == (0.5,)
    assert spec.blend == "gaussian" and spec.sw_batch_size == 2 and spec.padding_mode == "constant"
    assert parse_card({}).inference == InferenceSpec() and not InferenceSpec().sliding


@pytest.mark.parametrize("change, field", [
    ({"overlap": 1.0}, "inference.overlap"), ({"overlap": -0.1}, "inference.overlap"),
    ({"overlap": [0.25, 0.5]}, "inference.overlap"),
    ({"roi_size": [16, 16]}, "inference.roi_size"), ({"roi_size": [16, 0, 16]}, r"inference.roi_size\[1\]"),
    ({"roi_size": None}, "inference.roi_size"), ({"blend": "median"}, "inference.blend"),
    ({"sw_batch_size": 0}, "inference.sw_batch_size"), ({"padding_mode": "zeros"}, "inference.padding_mode"),
    ({"sigma_scale": 0}, "inference.sigma_scale"), ({"mode": "tiles"}, "inference.mode"),
    ({"roi": [16, 16, 16]}, "inference.roi"),
])
def test_bad_inference_is_one_line_card_error_naming_the_field(change, field):
    with pytest.raises(CardError, match=field) as info:
        parse_card(card({**SLIDING, **change}))
    assert "\n" not in str(info.value)


def test_missing_roi_size_and_2d_roi_length():
    with pytest.raises(CardError, match="inference.roi_size"):
        parse_card(card({"mode": "sliding_window"}))
    spec = parse_card(card({"mode": "sliding_window", "roi_size": [32, 32]}, spatial_dims=2)).inference
    assert spec.roi_size == (32, 32)


def test_schema_accepts_and_rejects_like_the_parser():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert validator.is_valid(card(SLIDING))
    assert not validator.is_valid(card({**SLIDING, "overlap": 1.0}))
    assert not validator.is_valid(card({"mode": "sliding_window"}))
