"""The embedded demo end to end: the CLI explains the shipped sample and the peak lands in its lesion.

Truth: the sample's voxels themselves (the bright lesion sphere) and ``sample_ct.json``; the heatmap file is
read back and checked independently of the demo's own report.
"""

import contextlib
import hashlib
import io
import json

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.job import run_demo, samples_dir
from SaliencyExplorerLib.demo.phantoms import voxel_points_lps
from SaliencyExplorerLib.errors import SaliencyError

SAMPLES = samples_dir()
TRUTH = json.loads((SAMPLES / "sample_ct.json").read_text())


def _digests():
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(SAMPLES.iterdir())}


@pytest.fixture(scope="module")
def sample():
    return sitk.ReadImage(str(SAMPLES / "sample_ct.nrrd"))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    before = _digests()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["demo", "--output-dir", str(out), "--json", "--require-hit"])
    return rc, json.loads(stdout.getvalue()), out, before


def test_sample_is_oblique_anisotropic_and_its_truth_is_honest(sample):
    d = np.asarray(sample.GetDirection()).reshape(3, 3)
    assert np.abs(d - np.round(d)).max() > 0.1  # oblique, not a permutation of the axes
    assert max(sample.GetSpacing()) / min(sample.GetSpacing()) > 2  # anisotropic
    arr = sitk.GetArrayFromImage(sample).astype(float)
    points = voxel_points_lps(sample.GetSize(), sample.GetSpacing(), sample.GetOrigin(), sample.GetDirection())
    bright = arr > 110  # lesion 150 HU, body 40 HU, noise 15 HU
    centroid = points[bright].mean(axis=0)
    assert np.linalg.norm(centroid - TRUTH["lesion_center_lps_mm"]) < 1.5
    lps = np.asarray(TRUTH["lesion_center_lps_mm"])
    np.testing.assert_allclose(TRUTH["lesion_center_ras_mm"], lps * [-1, -1, 1], atol=1e-3)


def test_cli_demo_succeeds_and_reports_a_hit(cli_run):
    rc, report, out, _ = cli_run
    assert rc == 0
    assert report["predicted"] == "lesion" and report["probability"] > 0.9
    assert report["peak_in_lesion"] and report["distance_mm"] <= TRUTH["lesion_radius_mm"]


def test_heatmap_file_is_on_the_sample_grid_and_peaks_in_the_lesion(cli_run, sample):
    _, report, out, _ = cli_run
    heat = sitk.ReadImage(report["heatmap"])
    assert heat.GetSize() == sample.GetSize()
    np.testing.assert_allclose(heat.GetSpacing(), sample.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(heat.GetOrigin(), sample.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(heat.GetDirection(), sample.GetDirection(), atol=1e-6)
    values = sitk.GetArrayFromImage(heat)
    assert values.min() >= 0 and 0.9 < values.max() <= 1.0  # [0, 1], a little under 1 after resampling
    peak_index = np.unravel_index(int(values.argmax()), values.shape)[::-1]
    peak = np.asarray(heat.TransformIndexToPhysicalPoint([int(i) for i in peak_index]))
    assert np.linalg.norm(peak - TRUTH["lesion_center_lps_mm"]) <= TRUTH["lesion_radius_mm"]
    np.testing.assert_allclose(peak * [-1, -1, 1], report["peak_ras_mm"], atol=1e-2)
    # the map is about the lesion, not everywhere: heat inside the sphere far above heat in the body
    points = voxel_points_lps(sample.GetSize(), sample.GetSpacing(), sample.GetOrigin(), sample.GetDirection())
    inside = np.linalg.norm(points - TRUTH["lesion_center_lps_mm"], axis=-1) <= TRUTH["lesion_radius_mm"]
    body = (sitk.GetArrayFromImage(sample) > -500) & ~inside
    assert values[inside].mean() > 5 * values[body].mean()


def test_png_overlay_written_and_samples_untouched(cli_run):
    _, report, out, before = cli_run
    png = report["png"]
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sitk.ReadImage(png).GetSize()[0] > 200
    assert _digests() == before


def test_export_program_gives_the_same_heatmap(cli_run, tmp_path):
    _, report, _, _ = cli_run
    result = run_demo(tmp_path, model="export", png=False)
    a = sitk.GetArrayFromImage(sitk.ReadImage(report["heatmap"]))
    b = sitk.GetArrayFromImage(sitk.ReadImage(str(result.heatmap_path)))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_missing_demo_files_name_the_fix(tmp_path):
    with pytest.raises(SaliencyError, match="make_demo.py"):
        run_demo(tmp_path / "out", folder=tmp_path)


def test_unwritable_output_dir_is_an_error_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["demo", "--output-dir", str(blocker / "sub")])
    assert rc == 2 and "Cannot create the output folder" in stderr.getvalue()


def test_samples_folder_can_be_pointed_at(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_EXPLORER_SAMPLES", str(tmp_path))
    assert samples_dir() == SAMPLES  # an empty folder is skipped
    (tmp_path / "sample_ct.json").write_text("{}")
    assert samples_dir() == tmp_path
