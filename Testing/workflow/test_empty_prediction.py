"""An empty prediction is never explained silently: every front door says the class was not predicted and
that the map explains it over the whole image instead.

The model (helpers/window_models.BrightBlobSeg) predicts class 1 where the smoothed intensity is high: on a
blank scan it predicts nothing, on a scan with a bright blob it predicts the blob.
"""

import io
import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.window_models import BrightBlobSeg
from SaliencyExplorerLib.core.engine import explain
from SaliencyExplorerLib.workflow.explain_image import explain_image

CARD = {
    "task": "segmentation",
    "classes": ["background", "lesion"],
    "target_layer": "features",
    "input": {"intensity": {"type": "scale", "a": 0.01, "b": 0.0}},
}
NEEDLE = "predicts no voxel of class 1"


def scan(with_blob: bool):
    k, j, i = np.meshgrid(np.arange(12), np.arange(16), np.arange(16), indexing="ij")
    inside = (i - 8) ** 2 + (j - 8) ** 2 + (k - 6) ** 2 <= 9
    image = sitk.GetImageFromArray(inside.astype(np.float32) * (100.0 if with_blob else 0.0) + 5.0)
    image.SetSpacing((1.0, 1.0, 2.0))
    return image


def test_the_engine_warns_and_explains_the_whole_image():
    model = BrightBlobSeg().eval()
    x = torch.full((1, 1, 16, 16, 12), 0.05)
    result = explain(model, x, "saliency", target=1, task="segmentation")
    notes = [w for w in result.warnings if NEEDLE in w]
    assert len(notes) == 1 and "whole image" in notes[0]
    # what was explained instead: class 1 summed over every voxel (an all-ones region), exactly
    whole = explain(model, x, "saliency", target=1, task="segmentation", mask=torch.ones(16, 16, 12))
    assert np.allclose(result.raw, whole.raw, atol=1e-7)
    assert not any(NEEDLE in w for w in whole.warnings)  # a given region is no empty prediction


def test_explain_image_warns_only_when_the_prediction_is_empty():
    empty = explain_image(scan(False), BrightBlobSeg(), CARD, method="saliency", target="lesion")
    assert any(NEEDLE in w for w in empty.warnings)
    assert not sitk.GetArrayFromImage(empty.prediction_image).any()  # the model's own answer: nothing
    found = explain_image(scan(True), BrightBlobSeg(), CARD, method="saliency", target="lesion")
    assert sitk.GetArrayFromImage(found.prediction_image).any()
    assert not any(NEEDLE in w for w in found.warnings)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("empty_prediction")
    sitk.WriteImage(scan(False), str(tmp / "blank.nrrd"))
    torch.jit.script(BrightBlobSeg()).save(str(tmp / "seg.pt"))
    (tmp / "seg.json").write_text(json.dumps(CARD))
    return tmp


def test_cli_json_and_stderr_say_so(files, capsys):
    from SaliencyExplorerLib.cli import main

    code = main(
        [
            "explain",
            "-i",
            str(files / "blank.nrrd"),
            "-m",
            str(files / "seg.pt"),
            "--method",
            "saliency",
            "--target",
            "lesion",
            "-o",
            str(files / "heat.nrrd"),
            "--json",
            "-q",
        ]
    )
    captured = capsys.readouterr()
    assert code in (0, None)
    assert any(NEEDLE in w for w in json.loads(captured.out)["warnings"])
    assert f"warning: The model {NEEDLE}" in captured.err


def test_worker_node_attribute_and_panel_say_so(files):
    from SaliencyExplorerLib.mrml import panel
    from SaliencyExplorerLib.workflow import worker
    from SaliencyExplorerLib.workflow.provenance import provenance

    job = worker.write_job(files / "job", scan(False), str(files / "seg.pt"), method="saliency", target=1)
    out = io.StringIO()
    assert worker.run_job(job, out) == 0
    events = [worker.parse_line(line) for line in out.getvalue().splitlines()]
    assert any(kind == "warning" and NEEDLE in text for kind, text in events)
    record = json.loads((job.parent / "result.json").read_text())
    assert any(NEEDLE in w for w in json.loads(record["provenance"]["warnings"]))  # -> SaliencyExplorer.warnings
    state = panel.RunState().update(events + [("exit", 0)])
    assert state.state == "done" and NEEDLE in state.status and state.warnings
    # the in-process path stores the same attribute on the node (set_provenance writes every key)
    result = explain_image(scan(False), BrightBlobSeg(), CARD, method="saliency", target="lesion")
    assert NEEDLE in provenance(result, str(files / "seg.pt"), None, "saliency")["warnings"]


def test_compare_says_so(files, capsys):
    from SaliencyExplorerLib.cli import main

    out = files / "compare"
    code = main(
        [
            "compare",
            "-i",
            str(files / "blank.nrrd"),
            "-m",
            str(files / "seg.pt"),
            "--target",
            "lesion",
            "--methods",
            "saliency",
            "--steps",
            "2",
            "--random-repeats",
            "1",
            "--no-sanity",
            "--no-figure",
            "--output-dir",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    assert any(NEEDLE in w for w in json.loads((out / "comparison.json").read_text())["warnings"])
    assert f"warning: The model {NEEDLE}" in capsys.readouterr().err
