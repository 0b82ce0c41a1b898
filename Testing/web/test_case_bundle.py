"""A MONAI bundle folder in the web session: its card derived and shown, its sliding-window run reported
window by window ("Computing: window N of M", as the Slicer panel says it), and the saved heatmap equal to
what the CLI writes for the same folder and scan (the independent truth: ``explain`` on the files)."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
pytest.importorskip("ignite")
pytest.importorskip("monai")

import SimpleITK as sitk  # noqa: E402
from helpers.nnunet_fixture import oblique_direction, synthetic_case  # noqa: E402
from models.test_monai_bundle import write_bundle  # noqa: E402  (the bundle Testing/models checks against MONAI)
from SaliencyExplorerLib.cli import main as cli_main  # noqa: E402
from SaliencyExplorerLib.web.case import Case  # noqa: E402
from SaliencyExplorerLib.web.root_files import Root  # noqa: E402


def test_a_bundle_runs_window_by_window_and_saves_what_the_cli_writes(mrml, tmp_path):
    root = tmp_path / "root"
    write_bundle(root / "bundles" / "tiny")
    image, _ = synthetic_case(
        5, size=(34, 28, 18), spacing=(0.9, 1.5, 2.4), direction=oblique_direction(), origin=(-12.0, 7.5, 30.0)
    )
    sitk.WriteImage(image, str(root / "scan.nii.gz"))
    case = Case(Root(root), mrml.scene)
    case.open_volume("scan.nii.gz")
    case.open_model("bundles/tiny")
    assert case.task == "segmentation" and json.loads(case.card_text)["classes"] == ["background", "body"]
    case.start("gradcam", target="1: body")
    # the worker's events reach the page's state one at a time (as a page polling often enough sees them): the
    # windows of this tiny bundle take ~0.1 s, so sampling the status on a timer would race against the machine
    pending, poll = [], case.process.poll

    def one_event():
        pending.extend(poll())
        return [pending.pop(0)] if pending else []

    case.process.poll = one_event
    statuses = []
    while case.process is not None:
        time.sleep(0.01)
        statuses.append(case.poll().status)
    assert case.state.state == "done", case.state.message
    windows = [re.fullmatch(r"Computing: window (\d+) of (\d+)", s) for s in statuses]
    counts = [(int(m[1]), int(m[2])) for m in windows if m]
    done = [d for d, _ in counts]
    total = counts[-1][1] if counts else 0
    # one count over the clean pass and the explanation, from 0 to the end, a step per window batch
    assert total > 2 and done[0] == 0 and done[-1] == total and done == sorted(done), statuses
    assert {t for _, t in counts} == {total} and len(set(done)) > 2, statuses
    saved = case.save()[0]
    out = tmp_path / "cli.nrrd"
    assert (
        cli_main(
            [
                "explain",
                "-i",
                str(root / "scan.nii.gz"),
                "-m",
                str(root / "bundles" / "tiny"),
                "--method",
                "gradcam",
                "--target",
                "body",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(sitk.ReadImage(str(saved))),
        sitk.GetArrayFromImage(sitk.ReadImage(str(out))),
        rtol=0,
        atol=1e-5,
    )
