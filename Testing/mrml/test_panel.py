"""The panel's decisions (SaliencyExplorerLib.mrml.panel), tested without Qt: what the thin widget shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.paths import SAMPLES
from helpers.slicer_models import bright_spot_file
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import panel


def test_method_options_parse_literals_and_refuse_junk():
    assert panel.parse_method_options("relu=False, n_samples=8, baseline=blur, window=[4, 4, 2]") == {
        "relu": False,
        "n_samples": 8,
        "baseline": "blur",
        "window": [4, 4, 2],
    }
    assert panel.parse_method_options("relu=False, n_samples=8,baseline=blur") == {
        "relu": False,
        "n_samples": 8,
        "baseline": "blur",
    }
    assert panel.parse_method_options("  ") == {}
    with pytest.raises(SaliencyError, match="name=value"):
        panel.parse_method_options("relu False")
    with pytest.raises(SaliencyError, match="name=value"):
        panel.parse_method_options("2x=1")


def test_run_options_and_paths():
    assert panel.run_options("", 0, "auto") == {}
    assert panel.run_options("relu=True", 4, "cpu") == {"relu": True, "batch_size": 4, "device": "cpu"}
    with pytest.raises(SaliencyError, match="device"):
        panel.run_options("", 0, "tpu")
    assert panel.path_or_none(Path(".")) is None and panel.path_or_none("") is None
    assert panel.path_or_none(Path("/x/m.pt")) == "/x/m.pt"


def test_target_entries_from_card_and_back():
    card = parse_card({"classes": ["no lesion", "lesion"]})
    entries = panel.target_entries(card)
    assert entries == [("top class", None), ("0: no lesion", 0), ("1: lesion", 1)]
    assert [panel.target_value(label) for label, _ in entries] == [None, 0, 1]
    assert panel.target_entries(None) == [("top class", None)]
    with pytest.raises(SaliencyError, match="class"):
        panel.target_value("lesion")


def test_can_apply_says_why_not(tmp_path):
    model = tmp_path / "m.pt"
    assert panel.can_apply(None, model) == (False, "Select an input volume")
    assert panel.can_apply(object(), Path(".")) == (False, "Select a model file or folder")
    ok, why = panel.can_apply(object(), model)
    assert not ok and "not found" in why
    model.write_bytes(b"x")
    assert panel.can_apply(object(), model)[0]
    assert panel.can_apply(object(), tmp_path)[0]  # a model folder (nnU-Net, MONAI bundle) is a model too


def test_run_state_follows_worker_events():
    state = panel.RunState()
    state.update([("status", "loading volume"), ("progress", (1, 4))])
    assert (state.percent, state.status) == (25, "Computing... 1/4")
    state.update([("progress", (4, 4)), ("done", "/tmp/r.json"), ("exit", 0)])
    assert (state.state, state.percent) == ("done", 100)
    failed = panel.RunState().update([("error", "bad card: fix it"), ("exit", 2)])
    assert (failed.state, failed.message) == ("error", "bad card: fix it")
    crashed = panel.RunState().update([("exit", -9)])
    assert crashed.state == "error" and "-9" in crashed.message
    cancelled = panel.RunState().update([("exit", -9)], cancelled=True)
    assert cancelled.state == "cancelled"


def test_model_choices_list_layers_with_default_methods_and_classes(tmp_path):
    model = bright_spot_file(tmp_path)
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps({"spatial_dims": 3, "classes": ["background", "bright"], "input": {"size": [40, 36, 14]}})
    )
    choices = panel.model_choices(str(model), str(card))
    names = [name for _, name in choices["layers"]]
    assert "conv" in names
    assert names[choices["defaultLayer"]] == "conv"  # the last spatial layer is the default
    assert "[default]" in choices["layers"][choices["defaultLayer"]][0]
    assert "gradcam" in choices["methods"] and "occlusion" in choices["methods"]
    assert [label for label, _ in choices["targets"]] == ["top class", "0: background", "1: bright"]


@pytest.mark.skipif(not (SAMPLES / "lesion_classifier.pt").exists(), reason="demo sample made by scripts/make_demo.py")
def test_model_choices_for_the_demo_state_dict_and_card():
    card = json.loads((SAMPLES / "lesion_classifier.json").read_text())
    choices = panel.model_choices(str(SAMPLES / "lesion_classifier.pt"), str(SAMPLES / "lesion_classifier.json"))
    names = [name for _, name in choices["layers"]]
    assert names[choices["defaultLayer"]] == card["target_layer"]
    assert [label for label, _ in choices["targets"]][1:] == [f"{i}: {c}" for i, c in enumerate(card["classes"])]
    assert "(1, 1, 32, 32, 32)" in choices["summary"]


def test_panel_evaluation_choices_summary_and_progress_phase():
    assert panel.evaluation_options(False, object()) == (None, None)
    checks, region = panel.evaluation_options(True, None)
    assert checks == panel.PANEL_EVALUATION and checks is not panel.PANEL_EVALUATION and region is None
    report = {
        "deletion_auc": 0.1,
        "random_deletion_auc": 0.4,
        "insertion_auc": 0.9,
        "random_insertion_auc": 0.5,
        "sanity": {"flagged": True},
        "pointing_hit": False,
    }
    text = panel.evaluation_summary(report)
    assert "0.100" in text and "0.400" in text and "FLAGGED" in text and "outside" in text
    state = panel.RunState().update([("progress", (4, 4)), ("status", "evaluating the map"), ("progress", (1, 10))])
    assert (state.status, state.percent) == ("Evaluating... 1/10", 10)


def test_a_run_by_windows_says_which_window_it_is_on():
    """The worker announces sliding windows; the status then counts windows ("window 37 of 150")."""
    state = panel.RunState().update([("status", "sliding windows: 150 windows of 96x96x96"), ("progress", (37, 150))])
    assert state.status == "Computing: window 37 of 150" and state.percent == 25
    state.update([("status", "evaluating the map"), ("progress", (2, 20))])
    assert state.status == "Evaluating... 2/20"  # the evaluation counts its own steps
