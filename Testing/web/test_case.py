"""The web session's steps (``web.case.Case``) on a real headless scene, with the real worker process.

Truth: the CLI's own output on the same files (``python -m SaliencyExplorerLib explain``), the sample's
recorded lesion position, the file system (results never overwrite) and the scene's node-ID list.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402
from helpers.paths import SAMPLES  # noqa: E402
from SaliencyExplorerLib.cli import main as cli_main  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.mrml import rollback  # noqa: E402
from SaliencyExplorerLib.web.case import Case, peak_ras  # noqa: E402
from SaliencyExplorerLib.web.root_files import Root  # noqa: E402


def opened(mrml, root):
    case = Case(Root(root), mrml.scene)
    case.open_volume("sample_ct.nrrd")
    choices = case.open_model("lesion_classifier.pt")
    return case, choices


def test_a_run_saves_what_the_cli_writes_and_its_peak_is_in_the_lesion(mrml, demo_root, tmp_path):
    case, choices = opened(mrml, demo_root)
    label, layer = choices["layers"][choices["defaultLayer"]]
    assert (
        label.endswith("[default]")
        and layer == json.loads((SAMPLES / "lesion_classifier.json").read_text())["target_layer"]
    )
    assert '"task": "classification"' in case.card_text
    case.start("gradcam", layer)
    assert case.wait(300).state == "done", case.state.message
    saved = case.save()
    assert [p.name for p in saved] == [
        "sample_ct_gradcam.nrrd",
        "sample_ct_gradcam_prediction.json",
        "sample_ct_gradcam.png",
    ]
    assert all(p.parent == demo_root / "results" for p in saved)

    cli_out = tmp_path / "cli.nrrd"
    assert (
        cli_main(
            [
                "explain",
                "-i",
                str(demo_root / "sample_ct.nrrd"),
                "-m",
                str(demo_root / "lesion_classifier.pt"),
                "--method",
                "gradcam",
                "--layer",
                layer,
                "-o",
                str(cli_out),
                "-q",
            ]
        )
        == 0
    )
    web, cli = sitk.ReadImage(str(saved[0])), sitk.ReadImage(str(cli_out))
    source = sitk.ReadImage(str(demo_root / "sample_ct.nrrd"))
    for image in (web, cli):  # the volume's own grid (to the NRRD header's printed precision)
        assert image.GetSize() == source.GetSize()
        for what in ("GetDirection", "GetOrigin", "GetSpacing"):
            np.testing.assert_allclose(getattr(image, what)(), getattr(source, what)(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(sitk.GetArrayFromImage(web), sitk.GetArrayFromImage(cli), rtol=0, atol=1e-6)

    lesion = json.loads((SAMPLES / "sample_ct.json").read_text())
    assert np.linalg.norm(peak_ras(web) - lesion["lesion_center_ras_mm"]) < lesion["lesion_radius_mm"]
    assert json.loads(saved[1].read_text())  # the classifier's probabilities

    again = case.save()  # a second save never overwrites the first
    assert again[0].name == "sample_ct_gradcam-2.nrrd" and saved[0].exists()


def test_cancel_stops_the_worker_and_leaves_the_scene_as_it_was(mrml, demo_root):
    case, _choices = opened(mrml, demo_root)
    ids = rollback.node_ids(mrml.scene)
    case.start("occlusion")
    process = case.process
    case.cancel()
    assert case.wait(60).state == "cancelled"
    assert process.process.poll() is not None and not process.job_path.parent.exists()
    assert rollback.node_ids(mrml.scene) == ids and case.heatmap_node is None


def test_paths_outside_the_root_and_misplaced_regions_are_refused(mrml, demo_root, tmp_path):
    (tmp_path / "other.nrrd").write_bytes((demo_root / "sample_ct.nrrd").read_bytes())
    case = Case(Root(demo_root), mrml.scene)
    with pytest.raises(SaliencyError, match="is outside the root"):
        case.open_volume("../other.nrrd")
    with pytest.raises(SaliencyError, match="Select an input volume"):
        case.start("gradcam")
    case, _choices = opened(mrml, demo_root)
    with pytest.raises(SaliencyError, match="only for a segmentation model"):
        case.set_region_point([0.0, 0.0, 0.0])
    with pytest.raises(SaliencyError, match="nothing to save yet"):
        case.save()
