"""``demo``: the command prints the demo's result (text or JSON) and, with --require-hit, fails when the
heatmap's peak is outside the lesion.

Truth: a demo result with known numbers (the job itself is ``demo/test_job.py``), so every printed value
and exit status can be checked by hand.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo import job


def _result(distance_mm):
    return job.DemoResult(
        heatmap_path=Path("out/heatmap.nrrd"),
        png_path=None,
        predicted="lesion",
        probability=0.98765432,
        peak_lps=np.array([-1.23456, 2.0, 3.0]),
        peak_ras=np.array([1.23456, -2.0, 3.0]),
        lesion_center_ras=np.array([1.0, -2.0, 3.5]),
        lesion_radius_mm=6.0,
        distance_mm=distance_mm,
        seconds=1.234,
    )


@pytest.fixture
def calls(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # whatever run_demo writes lands in the test's own folder, never in the checkout
    seen = []

    def fake_run_demo(output_dir, method="gradcam", model="state_dict", folder=None, png=True):
        """The first run's peak is 0.5 mm from the lesion centre (a hit), every later one 9 mm (a miss)."""
        seen.append({"output_dir": output_dir, "method": method, "model": model, "png": png})
        return _result(0.5 if len(seen) == 1 else 9.0)

    monkeypatch.setattr(job, "run_demo", fake_run_demo)
    return seen


def test_json_summary_rounds_the_numbers(calls, capsys):
    assert main(["demo", "-o", "somewhere", "--method", "layercam", "--model", "export", "--no-png", "--json"]) == 0
    assert calls == [{"output_dir": "somewhere", "method": "layercam", "model": "export", "png": False}]
    report = json.loads(capsys.readouterr().out)
    assert report["probability"] == 0.987654 and report["peak_ras_mm"] == [1.235, -2.0, 3.0]
    assert report["distance_mm"] == 0.5 and report["peak_in_lesion"] is True and report["png"] is None
    assert report["heatmap"] == str(Path("out/heatmap.nrrd")) and report["seconds"] == 1.23


def test_text_summary_and_require_hit(calls, capsys):
    assert main(["demo", "--require-hit"]) == 0  # 0.5 mm from the centre of a 6 mm lesion: a hit
    text = capsys.readouterr().out
    assert "model says: lesion (p = 0.988)" in text and "INSIDE the lesion" in text
    assert calls[0] == {"output_dir": "demo-output", "method": "gradcam", "model": "state_dict", "png": True}
    assert main(["demo", "--require-hit"]) == 1  # 9 mm: outside, and the script asked for a hit
    assert "OUTSIDE the lesion" in capsys.readouterr().out
    assert main(["demo"]) == 0  # without --require-hit a miss is still a successful run


def test_unknown_model_choice_is_refused_by_the_parser(calls, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--model", "onnx"])
    assert info.value.code == 2 and "invalid choice: 'onnx'" in capsys.readouterr().err and calls == []
