"""The shipped demo model keeps its accuracy claim on freshly drawn held-out cases, on every shipped route.

Truth: case labels from the generator (a lesion is planted or not), drawn with a seed the training never
used; the claim is read from ``training_report.json`` (also stated in docs/demo.md).
"""

import json

import torch
from SaliencyExplorerLib.demo.data import model_tensors
from SaliencyExplorerLib.demo.job import samples_dir
from SaliencyExplorerLib.models.loading import load_model

FOLDER = samples_dir()
CLAIM = json.loads((FOLDER / "training_report.json").read_text())


def test_accuracy_claim_holds_on_fresh_cases():
    x, y = model_tensors(48, seed=777_000)
    assert CLAIM["test_seed"] != 777_000 and CLAIM["train_seed"] != 777_000
    state = load_model(FOLDER / "lesion_classifier.pt")  # the card is found beside the weights
    exported = load_model(FOLDER / "lesion_classifier.pt2", FOLDER / "lesion_classifier.json")
    assert (state.kind, exported.kind) == ("state_dict", "export")
    with torch.no_grad():
        logits = state.module(x)
        torch.testing.assert_close(exported.module(x), logits, rtol=1e-4, atol=1e-4)
    accuracy = float((logits.argmax(1) == y).float().mean())
    assert accuracy >= min(CLAIM["held_out_accuracy"], 1.0) - 0.05, accuracy
    assert accuracy >= 0.9
