"""``worker JOB.json``: run one background job written by the Slicer module, speaking the progress
protocol on stdout and writing heatmap.nrrd + result.json beside the job.

Truth: a model that answers only to bright (lesion) voxels on a phantom whose lesion is known, the model
file's SHA-256 from hashlib, and the protocol lines parsed back.
"""

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.slicer_models import bright_spot_file
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.workflow.worker import parse_line, write_job

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used


def _phantom():
    return make_phantom(
        size=(40, 36, 14),
        spacing=(0.9, 1.1, 3.0),
        direction=rotation_direction((10.0, 0.0, 20.0)),
        lesion_center_lps=(8.0, -6.0, 4.0),
        lesion_radius_mm=6.0,
        seed=0,
    )


def test_a_job_runs_and_reports_by_the_protocol(tmp_path, capsys):
    image, mask = _phantom()
    model = bright_spot_file(tmp_path)
    job = write_job(tmp_path / "job", image, model, layers="conv", options={"batch_size": 2})
    assert main(["worker", str(job)]) == 0
    events = [parse_line(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "status" and kinds[-1] == "done"
    statuses = [text for kind, text in events if kind == "status"]
    assert statuses == ["loading volume and model", "writing heatmap"]
    assert events[-1][1] == str(job.parent / "result.json")
    result = json.loads((job.parent / "result.json").read_text())
    assert result["provenance"]["method"] == "gradcam" and result["provenance"]["layers"] == ["conv"]
    assert result["provenance"]["modelSHA256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    heat = sitk.ReadImage(str(job.parent / result["heatmap"]))
    assert heat.GetSize() == image.GetSize() and np.allclose(heat.GetDirection(), image.GetDirection())
    values = sitk.GetArrayFromImage(heat)
    assert sitk.GetArrayFromImage(mask)[np.unravel_index(np.argmax(values), values.shape)]  # peak in the lesion


def test_a_user_error_is_one_error_line_and_exit_status_2(tmp_path, capsys):
    image, _ = _phantom()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    assert main(["worker", str(write_job(tmp_path / "job", image, broken))]) == 2
    kind, message = parse_line(capsys.readouterr().out.splitlines()[-1])
    assert kind == "error" and "broken.pt" in message
    assert not (tmp_path / "job" / "result.json").exists()
