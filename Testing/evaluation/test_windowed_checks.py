"""Every check of trust runs the model as the explanation does: on the card's sliding windows.

The model here accepts one window (16^3) and nothing else, as a patch-trained network whose sizes must be
divisible by its strides does, so any check that runs it on the whole grid fails instead of passing quietly.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.window_models import SEG_CARD, WindowOnlySeg
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation.faithfulness import faithfulness

WINDOWS = {"roi_size": (16, 16, 16), "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 4}
CARD = SEG_CARD


def blob(size=(36, 32, 20), centre=(14, 12, 10)):
    k, j, i = np.meshgrid(*[np.arange(s) for s in size[::-1]], indexing="ij")
    distance = np.sqrt((i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2)
    image = sitk.GetImageFromArray((distance <= 3).astype(np.float32) * 100.0)
    image.SetSpacing((1.5, 1.5, 2.0))
    return image


def test_faithfulness_scores_the_blended_output_monai_computes():
    monai_inferers = pytest.importorskip("monai.inferers")
    model = WindowOnlySeg().eval()
    x = torch.from_numpy(sitk.GetArrayFromImage(blob()).T.copy())[None, None] * 0.01
    mask = torch.zeros(x.shape[2:], dtype=torch.bool)
    mask[10:18, 8:16, 6:14] = True
    with pytest.raises(SaliencyError, match="shape \\(1, 1, 36, 32, 20\\)"):
        faithfulness(model, x, torch.rand(x.shape[2:]), target=1, mask=mask, steps=4, random_repeats=0)
    result = faithfulness(
        model,
        x,
        torch.rand(x.shape[2:]),
        target=1,
        mask=mask,
        steps=4,
        random_repeats=0,
        sliding_window=WINDOWS,
        replacement=0.0,
    )
    with torch.no_grad():
        reference = monai_inferers.sliding_window_inference(x, (16, 16, 16), 4, model, overlap=0.25, mode="gaussian")
        blank = monai_inferers.sliding_window_inference(
            torch.zeros_like(x), (16, 16, 16), 4, model, overlap=0.25, mode="gaussian"
        )
    expected_start = float(torch.softmax(reference, 1)[0, 1][mask].mean())
    expected_end = float(torch.softmax(blank, 1)[0, 1][mask].mean())
    assert result.deletion[0, 0] == pytest.approx(expected_start, abs=1e-5)
    assert result.deletion[0, -1] == pytest.approx(expected_end, abs=1e-5)
    assert expected_start > expected_end + 0.05  # the lesion's probability really falls when it is removed


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("windowed_checks")
    sitk.WriteImage(blob(), str(tmp / "ct.nrrd"))
    torch.jit.script(WindowOnlySeg()).save(str(tmp / "seg.pt"))
    (tmp / "seg.json").write_text(json.dumps(CARD))
    return tmp


def test_cli_evaluate_runs_the_windowed_model(files, capsys):
    from SaliencyExplorerLib.cli import main

    code = main(
        [
            "evaluate",
            "-i",
            str(files / "ct.nrrd"),
            "-m",
            str(files / "seg.pt"),
            "--method",
            "gradcam",
            "--target",
            "lesion",
            "--steps",
            "4",
            "--random-repeats",
            "1",
            "--sanity-layers",
            "2",
            "-q",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert [entry["layer"] for entry in report["sanity"]["layers"]] == ["head", "features"]
    assert report["deletion_auc"] is not None and report["insertion_auc"] is not None
    assert report["target_name"] == "lesion"


def test_cli_compare_runs_the_windowed_model(files, capsys):
    from SaliencyExplorerLib.cli import main

    out = files / "out"
    code = main(
        [
            "compare",
            "-i",
            str(files / "ct.nrrd"),
            "-m",
            str(files / "seg.pt"),
            "--target",
            "lesion",
            "--methods",
            "gradcam,saliency",
            "--steps",
            "4",
            "--random-repeats",
            "1",
            "--sanity-layers",
            "1",
            "--output-dir",
            str(out),
            "--no-figure",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "comparison.json").read_text())
    assert [row["error"] for row in report["table"]] == [None, None]
    assert sorted(report["ranking"]) == ["gradcam", "saliency"]


def test_a_window_the_model_refuses_names_roi_size_not_input_size(files, capsys):
    from SaliencyExplorerLib.cli import main

    card = {**CARD, "inference": {**CARD["inference"], "roi_size": [12, 12, 12]}}
    (files / "bad.json").write_text(json.dumps(card))
    code = main(
        [
            "evaluate",
            "-i",
            str(files / "ct.nrrd"),
            "-m",
            str(files / "seg.pt"),
            "--card",
            str(files / "bad.json"),
            "--target",
            "lesion",
            "--steps",
            "2",
            "--no-sanity",
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "inference.roi_size" in err and "input.size" not in err and "Traceback" not in err
