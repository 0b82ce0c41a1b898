"""``card``: the card a model is explained with, as JSON that --card accepts back (parse_card round trip)."""

import json

import pytest
from SaliencyExplorerLib.card import card_to_dict, load_card, parse_card
from SaliencyExplorerLib.cli import main

CARD = {
    "name": "lesion net",
    "task": "classification",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["none", "lesion"],
    "target_layer": "features.3",
    "input": {
        "orientation": "LPS",
        "spacing": [1.0, 1.0, 2.0],
        "size": [64, 64, 32],
        "intensity": [{"clip_percentiles": [0.5, 99.5]}, {"zscore": {"mean": 40.0, "std": 300.0}}],
    },
    "inference": {"mode": "sliding_window", "roi_size": [32, 32, 16], "overlap": 0.5, "blend": "gaussian"},
}


def test_the_card_beside_a_model_is_printed_and_reads_back_equal(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "model.json").write_text(json.dumps(CARD))
    assert main(["card", "--model", str(tmp_path / "model.pt")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert parse_card(printed) == parse_card(CARD)
    assert card_to_dict(load_card(tmp_path / "model.json")) == printed


def test_a_model_without_a_card_or_nothing_at_all_is_one_line(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"weights")
    assert main(["card", "--model", str(tmp_path / "model.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no card beside it" in err and err.count("\n") == 1
    assert main(["card"]) == 2 and "give --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["card", "--bogus"])
