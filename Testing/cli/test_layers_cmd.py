"""The `layers` table marks the card's target layer as the default, because that is what `explain` uses."""

import json

from helpers.paths import SAMPLES
from SaliencyExplorerLib.cli import main


def test_layers_marks_the_cards_target_layer(capsys):
    card = json.loads((SAMPLES / "lesion_classifier.json").read_text())
    assert main(["layers", "--model", str(SAMPLES / "lesion_classifier.pt"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    defaults = [row["name"] for row in rows if row["default"]]
    assert defaults == [card["target_layer"]]
    assert next(r for r in rows if r["name"] == card["target_layer"])["cam_capable"]
