"""How a heatmap was made (stored on the node and in the worker's result.json): method, layers, target,
score, peak, the model file and its SHA-256, the card, the library version; empty fields left out.

Truth: hashlib on the model file, the version module, values formatted by hand, and a real run.
"""

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers.geometry_helpers import CT_CARD, BlobNet
from SaliencyExplorerLib.card import load_card
from SaliencyExplorerLib.demo.phantoms import make_phantom
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.version import __version__
from SaliencyExplorerLib.workflow.explain_image import explain_image
from SaliencyExplorerLib.workflow.provenance import card_identity, model_identity, provenance


def test_model_identity_of_a_file_and_of_an_in_memory_model(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    assert model_identity(path) == (str(path), hashlib.sha256(b"weights").hexdigest())
    assert model_identity(str(path)) == model_identity(path)
    assert model_identity(BlobNet()) == ("<in-memory BlobNet>", "")
    with pytest.raises(SaliencyError, match="does not exist"):
        model_identity(tmp_path / "missing.pt")


def test_card_identity():
    assert card_identity(None) == "" and card_identity(Path("/cards/m.json")) == "/cards/m.json"
    assert card_identity({"spatial_dims": 3}) == "<in-memory card>"
    assert card_identity(SimpleNamespace(path=Path("/cards/c.json"))) == "/cards/c.json"
    assert card_identity(load_card(CT_CARD)) == "<in-memory card>"  # parsed from a dict: no file


def test_the_record_by_hand_with_empty_fields_left_out(tmp_path):
    path = tmp_path / "m.pt"
    path.write_bytes(b"x")
    result = SimpleNamespace(
        explanation=SimpleNamespace(method="layercam", layers=["features.3"]),
        target_index=1,
        target_name="lesion",
        score=0.875,
        peak_ras=np.array([1.23456, -2.0, 30.0004]),
    )
    record = provenance(result, path, None, "gradcam")
    assert record == {
        "method": "layercam",
        "layers": ["features.3"],
        "target": 1,
        "targetName": "lesion",
        "score": 0.875,
        "peakRAS": "1.235,-2.000,30.000",
        "model": str(path),
        "modelSHA256": hashlib.sha256(b"x").hexdigest(),
        "version": __version__,
        "trustCode": "false",
    }  # always recorded (issue 9): whether code from the files could run
    bare = provenance(SimpleNamespace(), BlobNet(), None, "occlusion")  # nothing known yet: the asked method
    assert bare == {"method": "occlusion", "model": "<in-memory BlobNet>", "version": __version__, "trustCode": "false"}


def test_a_real_run_is_recorded_as_it_ran():
    image, _ = make_phantom(
        size=(16, 14, 10), spacing=(1.5, 1.5, 2.0), lesion_center_lps=(3.0, -2.0, 1.0), lesion_radius_mm=6.0, seed=0
    )
    result = explain_image(image, BlobNet(), CT_CARD, method="grad-cam", target="lesion")
    record = provenance(result, BlobNet(), CT_CARD, "grad-cam")
    assert record["method"] == "gradcam" and record["layers"] == ["act"]  # the card's layer, the canonical name
    assert record["target"] == 1 and record["targetName"] == "lesion"
    assert record["score"] == pytest.approx(result.score)
    assert [float(v) for v in record["peakRAS"].split(",")] == pytest.approx(list(result.peak_ras), abs=5e-4)
    assert record["card"] == "<in-memory card>"
