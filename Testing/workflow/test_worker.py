"""The background worker: a real process, progress lines, a result equal to the in-process one, cancel, crash."""

from __future__ import annotations

import io
import os
import signal
import time

import numpy as np
import pytest
from helpers.slicer_models import bright_spot_file
from helpers.slicer_scene import phantom_node
from SaliencyExplorerLib import explain_volume_node
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import explain_node, heatmap_node, panel, volume_nodes
from SaliencyExplorerLib.workflow import worker


def _drain(process, state, timeout=120):
    events, end = [], time.time() + timeout
    while time.time() < end:
        batch = process.poll()
        events += batch
        state.update(batch, cancelled=process.cancelled)
        if any(kind == "exit" for kind, _ in batch):
            return events
        time.sleep(0.05)
    raise AssertionError("the worker did not finish in time")


def test_parse_line_protocol():
    assert worker.parse_line("SALIENCY-PROGRESS 3 8\n") == ("progress", (3, 8))
    assert worker.parse_line("SALIENCY-ERROR bad card: fix it") == ("error", "bad card: fix it")
    assert worker.parse_line("some torch warning") == ("log", "some torch warning")
    state = panel.RunState().update([("progress", (3, 8))])
    assert (state.percent, state.state) == (38, "running")


def test_background_run_equals_in_process_and_reports_progress(mrml, tmp_path):
    source, _, _ = phantom_node(mrml)
    model = str(bright_spot_file(tmp_path))
    n_nodes = mrml.scene.GetNumberOfNodes()
    process = explain_node.start_background(
        source, model, method="occlusion", batch_size=4, window=[8, 8, 4], stride=[8, 8, 4]
    )
    assert mrml.scene.GetNumberOfNodes() == n_nodes  # nothing in the scene while it runs
    state = panel.RunState()
    events = _drain(process, state)
    assert state.state == "done", (state, process.log[-5:])
    progress = [v for k, v in events if k == "progress"]
    assert progress and progress[-1][0] == progress[-1][1] and len(progress) >= 2
    job_folder = process.job_path.parent
    out = explain_node.finish_background(process, source, threshold=0.4)
    assert not job_folder.exists()  # the temporary job folder is cleaned up
    reference = explain_volume_node(source, model, method="occlusion", batch_size=4, window=[8, 8, 4], stride=[8, 8, 4])
    assert np.allclose(volume_nodes.node_array(out), volume_nodes.node_array(reference), atol=1e-6)
    assert heatmap_node.provenance_of(out)["modelSHA256"] == heatmap_node.provenance_of(reference)["modelSHA256"]
    assert mrml.logic("Volumes").CompareVolumeGeometry(out, source) == ""


def test_cancel_kills_the_worker_and_leaves_the_scene(mrml, tmp_path):
    source, _, _ = phantom_node(mrml)
    process = explain_node.start_background(source, str(bright_spot_file(tmp_path)), layers="conv")
    n_nodes, modified = mrml.scene.GetNumberOfNodes(), source.GetMTime()
    time.sleep(0.3)
    process.cancel()
    state = panel.RunState()
    _drain(process, state, timeout=30)
    assert state.state == "cancelled" and process.process.returncode != 0
    with pytest.raises(SaliencyError, match="cancelled"):
        explain_node.finish_background(process, source)
    assert mrml.scene.GetNumberOfNodes() == n_nodes and source.GetMTime() == modified


def test_a_crashing_worker_is_a_clear_error(mrml, tmp_path):
    source, _, _ = phantom_node(mrml)
    process = explain_node.start_background(source, str(bright_spot_file(tmp_path)), layers="conv")
    time.sleep(0.3)
    os.kill(process.process.pid, signal.SIGKILL)  # e.g. out of memory: killed from outside
    state = panel.RunState()
    _drain(process, state, timeout=30)
    assert state.state == "error" and "exit status" in state.message
    n_nodes = mrml.scene.GetNumberOfNodes()
    with pytest.raises(SaliencyError, match="exit status"):
        explain_node.finish_background(process, source)
    assert mrml.scene.GetNumberOfNodes() == n_nodes


def test_user_error_in_worker_comes_back_as_its_message(tmp_path):
    import SimpleITK as sitk

    image = sitk.Image(8, 8, 4, sitk.sitkFloat32)
    bad_model = tmp_path / "broken.pt"
    bad_model.write_bytes(b"not a model")
    job = worker.write_job(tmp_path / "job", image, bad_model)
    out = io.StringIO()
    assert worker.run_job(job, out) == 2
    kind, message = worker.parse_line(out.getvalue().strip().splitlines()[-1])
    assert kind == "error" and "broken.pt" in message


def test_in_memory_model_cannot_go_to_the_worker(mrml):
    from helpers.slicer_models import BrightSpot

    source, _, _ = phantom_node(mrml)
    with pytest.raises(SaliencyError, match="file path"):
        explain_node.start_background(source, BrightSpot())
