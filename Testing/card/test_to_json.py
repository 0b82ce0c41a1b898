"""card.to_json: a card written back as JSON reads back to an equal card, for every kind of field (the
worker's job folder and the ``card`` command rely on it)."""

import json

from SaliencyExplorerLib.card import card_to_dict, parse_card

CARDS = [
    {},
    {
        "name": "seg",
        "task": "segmentation",
        "spatial_dims": 3,
        "in_channels": 2,
        "classes": ["bg", "liver", "tumour"],
        "input": {
            "orientation": "LPS",
            "array_order": "zyx",
            "spacing": [0.8, 0.8, 1.5],
            "size": [96, 96, 64],
            "center": {"foreground": -500.0},
            "intensity": [
                {"type": "window", "min": -100, "max": 200},
                [{"clip_percentiles": [0.5, 99.5]}, {"zscore": {"mean": 10.0, "std": 3.0}}],
            ],
        },
        "output": {"activation": "sigmoid"},
        "target_layer": ["decoder.1", "decoder.2"],
        "inference": {"mode": "sliding_window", "roi_size": [64, 64, 32], "overlap": 0.5, "blend": "gaussian"},
        "architecture": {"class": "monai.networks.nets.UNet", "kwargs": {"spatial_dims": 3}},
    },
    {"spatial_dims": 2, "input": {"size": [256, 256], "slice_axis": "j", "spacing": [0.5, 0.5]}},
]


def test_every_card_reads_back_equal_through_json():
    for data in CARDS:
        card = parse_card(data)
        written = json.loads(json.dumps(card_to_dict(card)))  # plain JSON on the way, as in a job folder
        assert parse_card(written) == card, data


def test_monai_sliding_window_form_equals_the_flat_alias_and_is_what_the_card_writes():
    """``inference.sliding_window`` holds SlidingWindowInferer's own arguments (its ``mode`` is the blend):
    the same card as the flat form with ``blend``; ``card_to_dict`` writes MONAI's form."""
    from monai.inferers import SlidingWindowInferer

    args = {
        "roi_size": [64, 64, 32],
        "sw_batch_size": 4,
        "overlap": 0.5,
        "mode": "gaussian",
        "sigma_scale": 0.2,
        "padding_mode": "replicate",
        "cval": 1.0,
        "progress": False,
        "cache_roi_weight_map": True,
    }
    SlidingWindowInferer(**args)  # the arguments are MONAI's, verbatim
    monai_form = parse_card({"inference": {"sliding_window": args}})
    flat = parse_card(
        {
            "inference": {
                "mode": "sliding_window",
                "roi_size": [64, 64, 32],
                "sw_batch_size": 4,
                "overlap": 0.5,
                "blend": "gaussian",
                "sigma_scale": 0.2,
                "padding_mode": "replicate",
                "cval": 1.0,
            }
        }
    )
    assert monai_form == flat
    written = card_to_dict(flat)["inference"]
    assert set(written) == {"sliding_window"} and written["sliding_window"]["mode"] == "gaussian"
    SlidingWindowInferer(**written["sliding_window"])
    assert parse_card({"inference": {"sliding_window": {"roi_size": 16}}}).inference.roi_size == (16, 16, 16)
    nnunet = parse_card({"inference": {"sliding_window": {"roi_size": 16}, "tiling": "nnunet"}})
    assert parse_card(card_to_dict(nnunet)) == nnunet and card_to_dict(nnunet)["inference"]["tiling"] == "nnunet"


def test_monai_form_errors_name_the_field_as_written():
    import pytest
    from SaliencyExplorerLib.errors import CardError

    for inference, field in (
        ({"sliding_window": {"roi_size": 16, "mode": "median"}}, "inference.sliding_window.mode"),
        ({"sliding_window": {"roi_size": 16, "overlap": 1.0}}, "inference.sliding_window.overlap"),
        ({"sliding_window": {"overlap": 0.5}}, "inference.sliding_window.roi_size"),
        ({"sliding_window": {"roi_size": 16, "with_coord": True}}, "sliding_window.with_coord"),
        ({"sliding_window": {"roi_size": 16}, "overlap": 0.5}, "'inference'"),
        ({"sliding_window": {"roi_size": 16}, "mode": "whole"}, "inference.mode"),
    ):
        with pytest.raises(CardError, match=field):
            parse_card({"inference": inference})
