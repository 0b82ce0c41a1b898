"""``explain_and_evaluate``: one volume explained and, when asked, its map checked with the same loaded
model; torch's failures turned into messages with the fix. The in-process Slicer path, the worker and the
CLI share it.

Truth: the map must be the one ``explain_image`` gives alone, the report's numbers those of
``evaluate_volume`` on that result, and a blob detector's map must beat a random map.
"""

import json

import numpy as np
import pytest
import torch
from helpers.geometry_helpers import CT_CARD, BlobNet
from SaliencyExplorerLib.demo.phantoms import make_phantom
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation.volume import evaluate_volume
from SaliencyExplorerLib.workflow import explain_and_evaluate as module
from SaliencyExplorerLib.workflow.explain_and_evaluate import explain_and_evaluate
from SaliencyExplorerLib.workflow.explain_image import explain_image

CHECKS = {"steps": 20, "random_repeats": 2, "sanity": False}


def _phantom():
    return make_phantom(
        size=(16, 14, 10), spacing=(1.5, 1.5, 2.0), lesion_center_lps=(3.0, -2.0, 1.0), lesion_radius_mm=6.0, seed=0
    )


def test_an_empty_dict_of_checks_still_evaluates(tmp_path):
    """`evaluate={}` means "evaluate with the defaults" (a dict of checks), not "do not evaluate"."""
    from SaliencyExplorerLib.workflow.worker import write_job

    img, _ = make_phantom(size=(12, 12, 10), lesion_center_lps=(2.0, 0.0, 0.0), lesion_radius_mm=3)
    _, report = explain_and_evaluate(img, BlobNet(), CT_CARD, "gradcam", None, None, evaluate={})
    assert report is not None and 0.0 <= report["deletion_auc"] <= 1.0
    job = write_job(tmp_path, img, tmp_path / "model.pt", evaluate={})
    assert json.loads(job.read_text())["evaluate"] == {}


def test_without_evaluation_the_result_is_explain_images_and_no_report():
    image, _ = _phantom()
    result, report = explain_and_evaluate(image, BlobNet(), CT_CARD, "gradcam", None, None)
    alone = explain_image(image, BlobNet(), CT_CARD, method="gradcam")
    assert report is None
    np.testing.assert_array_equal(result.model_heatmap, alone.model_heatmap)
    with pytest.raises(SaliencyError, match="a region is only used by the evaluation"):
        explain_and_evaluate(image, BlobNet(), CT_CARD, "gradcam", None, None, evaluate=False, region=image)


def test_the_report_is_evaluate_volume_on_the_same_result_and_the_map_beats_random():
    image, mask = _phantom()
    model = BlobNet()
    result, report = explain_and_evaluate(image, model, CT_CARD, "gradcam", None, None, evaluate=CHECKS, region=mask)
    again = evaluate_volume(result, model, region=mask, **CHECKS)
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)  # same numbers, same keys
    assert len(report["curves"]["deletion"]) == CHECKS["steps"] + 1 and "sanity" not in report
    assert report["deletion_auc"] < report["random_deletion_auc"]
    assert report["pointing_hit"] is True and report["method"] == "gradcam"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, still used
def test_a_model_file_is_loaded_once_for_both(tmp_path, monkeypatch):
    image, _ = _phantom()
    path = tmp_path / "blob.pt"
    torch.jit.save(torch.jit.script(BlobNet()), str(path))
    loads = []
    from SaliencyExplorerLib.models import loading

    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    result, report = explain_and_evaluate(image, path, CT_CARD, "saliency", None, 1, evaluate=CHECKS)
    assert len(loads) == 1 and result.target_index == 1 and 0.0 <= report["deletion_auc"] <= 1.0


def test_torch_failures_become_messages_with_the_fix(monkeypatch):
    image, _ = _phantom()

    def shape_error(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x8 and 16x2)")

    monkeypatch.setattr("SaliencyExplorerLib.workflow.explain_and_evaluate.explain_image", shape_error)
    with pytest.raises(SaliencyError, match=r"the model failed on this volume \(mat1 and mat2.*spatial_dims"):
        module.run_pipeline(image, BlobNet(), CT_CARD, "gradcam", None, None)

    def no_torch(*args, **kwargs):
        raise ImportError("No module named 'torch'", name="torch")

    monkeypatch.setattr("SaliencyExplorerLib.workflow.explain_and_evaluate.explain_image", no_torch)
    with pytest.raises(SaliencyError, match="PyTorch is not installed.*pip install torch"):
        module.run_pipeline(image, BlobNet(), CT_CARD, "gradcam", None, None)

    def other_import(*args, **kwargs):
        raise ImportError("No module named 'monai'", name="monai")

    monkeypatch.setattr("SaliencyExplorerLib.workflow.explain_and_evaluate.explain_image", other_import)
    with pytest.raises(ImportError, match="monai"):  # not ours to reword
        module.run_pipeline(image, BlobNet(), CT_CARD, "gradcam", None, None)
