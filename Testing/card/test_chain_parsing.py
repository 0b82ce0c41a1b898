"""card.chain_parsing: the fields that chain a first model (localiser, previous_stage) resolve the first model's
files beside the card, read its own card, and refuse what cannot run with a one-line error naming the field."""

import json

import pytest
from SaliencyExplorerLib.card import card_to_dict, load_card, parse_card
from SaliencyExplorerLib.errors import CardError

FIRST = {"task": "segmentation", "spatial_dims": 3, "in_channels": 1, "classes": ["bg", "organ", "lesion"]}


def cascade(**previous):
    return {
        "task": "segmentation",
        "in_channels": 3,
        "previous_stage": {"model": "low.pt", "card": FIRST, "labels": [1, 2], **previous},
    }


def test_previous_stage_counts_its_channels_and_resolves_files_beside_the_card(tmp_path):
    (tmp_path / "first.json").write_text(json.dumps(FIRST))
    data = cascade(card="first.json")
    (tmp_path / "second.json").write_text(json.dumps(data))
    card = load_card(tmp_path / "second.json")
    spec = card.previous_stage
    assert spec.model == str(tmp_path / "low.pt") and spec.labels == (1, 2) and spec.card.classes[2] == "lesion"
    assert (card.in_channels, card.image_channels) == (3, 1)
    again = parse_card(card_to_dict(card))  # back to JSON and again
    assert card_to_dict(again) == card_to_dict(card) and again.previous_stage.labels == (1, 2)


def test_a_folder_stage_may_leave_its_card_out():
    data = cascade()
    del data["previous_stage"]["card"]
    assert parse_card(data).previous_stage.card is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"labels": []}, "previous_stage.labels"),
        ({"labels": [0, 1]}, "previous_stage.labels"),
        ({"labels": [1, 2, 3]}, "previous_stage.labels"),  # as many label channels as in_channels: no image left
        ({"model": ""}, "previous_stage.model"),
        ({"card": {**FIRST, "task": "classification"}}, "previous_stage.card"),
        ({"card": {**FIRST, "spatial_dims": 4}}, r"spatial_dims.*\(in previous_stage.card\)"),
        ({"card": 3}, "previous_stage.card"),
        ({"weights": "x"}, "previous_stage"),
    ],
)
def test_what_cannot_run_is_one_line(change, field):
    data = cascade(**change)
    with pytest.raises(CardError, match=field) as info:
        parse_card(data)
    assert "\n" not in str(info.value)


def test_localiser_reads_its_card_with_the_same_rules(tmp_path):
    card = parse_card({"localiser": {"model": "box.pt", "card": FIRST, "box_margin": 0.1}}, path=tmp_path / "c.json")
    assert card.localiser.model == str(tmp_path / "box.pt") and card.localiser.card.task == "segmentation"
    with pytest.raises(CardError, match=r"in localiser.card"):
        parse_card({"localiser": {"model": "box.pt", "card": {**FIRST, "in_channels": 0}}})
