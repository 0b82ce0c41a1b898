"""card.to_json: a card written back as JSON reads back to an equal card, for every kind of field (the
worker's job folder and the ``card`` command rely on it)."""

import json

from SaliencyExplorerLib.card import card_to_dict, parse_card

CARDS = [
    {},
    {"name": "seg", "task": "segmentation", "spatial_dims": 3, "in_channels": 2, "classes": ["bg", "liver", "tumour"],
     "input": {"orientation": "LPS", "array_order": "zyx", "spacing": [0.8, 0.8, 1.5], "size": [96, 96, 64],
               "center": {"foreground": -500.0},
               "intensity": [{"type": "window", "min": -100, "max": 200},
                             [{"clip_percentiles": [0.5, 99.5]}, {"zscore": {"mean": 10.0, "std": 3.0}}]]},
     "output": {"activation": "sigmoid"}, "target_layer": ["decoder.1", "decoder.2"],
     "inference": {"mode": "sliding_window", "roi_size": [64, 64, 32], "overlap": 0.5, "blend": "gaussian"},
     "architecture": {"class": "monai.networks.nets.UNet", "kwargs": {"spatial_dims": 3}}},
    {"spatial_dims": 2, "input": {"size": [256, 256], "slice_axis": "j", "spacing": [0.5, 0.5]}},
]


def test_every_card_reads_back_equal_through_json():
    for data in CARDS:
        card = parse_card(data)
        written = json.loads(json.dumps(card_to_dict(card)))  # plain JSON on the way, as in a job folder
        assert parse_card(written) == card, data
