"""Slicer side of 'never loses what the user had': outputs only into our own heatmap of the same source,
background results to the volume explained, job folders always removed, worker protocol in UTF-8."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core is needed")

sys.path.insert(0, str(Path(__file__).parents[1]))
from helpers.slicer_models import bright_spot_file  # noqa: E402
from SaliencyExplorerLib.card import parse_card  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.mrml import explain_node, heatmap_node, panel, volume_nodes  # noqa: E402
from SaliencyExplorerLib.workflow import worker  # noqa: E402


def _node(session, name, seed=0):
    array = np.random.default_rng(seed).normal(size=(14, 36, 40)).astype(np.float32) * 50
    return volume_nodes.add_volume_from_image(session.scene, sitk.GetImageFromArray(array), name)


def _wait(process, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if any(kind == "exit" for kind, _ in process.poll()):
            return
        time.sleep(0.05)
    raise AssertionError("worker did not finish")


def test_output_node_must_be_our_heatmap_of_the_same_source(mrml, tmp_path):
    model = str(bright_spot_file(tmp_path))
    a, b = _node(mrml, "patient A"), _node(mrml, "patient B", 1)
    heat_a = explain_node.explain_volume_node(a, model, layers="conv")
    assert heatmap_node.source_id_of(heat_a) == a.GetID() and panel.output_belongs_to(heat_a, a)
    assert not panel.output_belongs_to(heat_a, b)
    before_b, before_heat = volume_nodes.node_array(b).copy(), volume_nodes.node_array(heat_a).copy()
    count = mrml.scene.GetNumberOfNodes()
    for output in (b, heat_a):  # another patient's CT; the heatmap of another input
        with pytest.raises(SaliencyError, match="Create new"):
            explain_node.explain_volume_node(b if output is heat_a else a, model, layers="conv", output_node=output)
    assert mrml.scene.GetNumberOfNodes() == count
    assert np.array_equal(volume_nodes.node_array(b), before_b)
    assert np.array_equal(volume_nodes.node_array(heat_a), before_heat)
    again = explain_node.explain_volume_node(a, model, layers="conv", output_node=heat_a)  # ours: re-run is fine
    assert again is heat_a


def test_background_result_goes_to_the_volume_explained_and_not_to_a_deleted_one(mrml, tmp_path):
    model = str(bright_spot_file(tmp_path))
    a, b = _node(mrml, "A"), _node(mrml, "B", 1)
    process = explain_node.start_background(a, model, layers="conv")
    _wait(process)
    node = explain_node.finish_background(process, b)  # the panel now shows B: the map is still A's
    assert heatmap_node.source_id_of(node) == a.GetID()
    assert not Path(process.job_path).parent.exists()

    process = explain_node.start_background(b, model, layers="conv")
    mrml.scene.RemoveNode(b)
    _wait(process)
    count = mrml.scene.GetNumberOfNodes()
    with pytest.raises(SaliencyError, match="deleted"):
        explain_node.finish_background(process, a)
    assert mrml.scene.GetNumberOfNodes() == count and not Path(process.job_path).parent.exists()


def test_cancel_removes_the_job_folder(mrml, tmp_path):
    process = explain_node.start_background(
        _node(mrml, "A"), str(bright_spot_file(tmp_path)), layers="conv", method="occlusion"
    )
    folder = Path(process.job_path).parent
    assert folder.exists()
    process.cancel()
    assert not folder.exists()


def test_in_memory_card_crosses_to_the_worker(mrml, tmp_path):
    card = {"spatial_dims": 3, "in_channels": 1, "target_layer": "conv"}
    for given in (card, parse_card(card)):
        process = explain_node.start_background(_node(mrml, "A"), str(bright_spot_file(tmp_path)), card=given)
        job = json.loads(Path(process.job_path).read_text())
        assert job["card"]["target_layer"] == "conv"
        _wait(process)
        assert process.error is None, process.error
        process.cleanup()


def test_multiline_error_keeps_every_line():
    out = io.StringIO()
    worker._say("ERROR", "first line\nsecond line\n\nthird", out)
    kind, text = worker.parse_line(out.getvalue())
    assert kind == "error" and text == "first line | second line | third" and out.getvalue().count("\n") == 1


def test_protocol_is_utf8_whatever_the_console_encoding(tmp_path):
    folder = tmp_path / "задание-病人"
    job = worker.write_job(folder, sitk.Image(8, 8, 4, sitk.sitkFloat32), tmp_path / "missing-модель.pt")
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    done = subprocess.run(
        [sys.executable, "-m", "SaliencyExplorerLib", "worker", str(job)], env=env, capture_output=True, timeout=120
    )
    lines = [worker.parse_line(line) for line in done.stdout.decode("utf-8").splitlines()]
    errors = [text for kind, text in lines if kind == "error"]
    assert errors and "missing-модель.pt" in errors[0], done
    process = worker.WorkerProcess(job, env=env)  # the reader decodes UTF-8 too
    process.wait(120)
    process.poll()
    assert "missing-модель.pt" in (process.error or "")
