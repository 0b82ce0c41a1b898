"""nnU-Net's cascade (issue 18): the ``3d_cascade_fullres`` stage sees the image and its ``3d_lowres`` stage's
prediction (one-hot per foreground label); the tool runs the first stage as nnU-Net does (mirroring on), brings
its labels to the model grid as nnU-Net's preprocessor brings a segmentation, and predicts what nnU-Net does.

Model: the stored lesion network (``test_nnunet_fidelity``) as both stages: ``3d_lowres`` is its configuration
at 1.6x the spacing, ``3d_cascade_fullres`` inherits ``3d_fullres`` with ``previous_stage`` and one more input
channel (small random weights on it). Reference: nnUNetPredictor's defaults: the low-resolution stage's segmentation,
then the cascade stage given it (``predict_single_npy_array(..., segmentation_previous_stage)``), and its
DefaultPreprocessor for the input. Float64 accumulation on nnU-Net's side removes its float16 noise.
"""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_agreement import dice, predictor, theirs  # noqa: E402
from helpers.nnunet_lesion_fixture import LESION_RAS, SCAN_CENTRE, geometries, scan, write_scan  # noqa: E402
from SaliencyExplorerLib.errors import ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402

LESION = Path(__file__).parent / "data" / "nnunet_lesion" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
TRAINER = "nnUNetTrainer__nnUNetPlans__"


def _stage(root: Path, name: str, plans: dict, weights: dict) -> Path:
    folder = root / f"{TRAINER}{name}"
    shutil.copytree(LESION, folder)
    (folder / "plans.json").write_text(json.dumps(plans))
    path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["network_weights"] = weights
    checkpoint["init_args"]["configuration"] = name
    checkpoint["init_args"]["plans"] = plans
    torch.save(checkpoint, path)
    return folder


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """(3d_lowres folder, 3d_cascade_fullres folder) side by side, as nnU-Net writes them."""
    root = tmp_path_factory.mktemp("cascade") / "Dataset042_Lesion"
    root.mkdir()
    plans = json.loads((LESION / "plans.json").read_text())
    configs = plans["configurations"]
    low = copy.deepcopy(configs["3d_fullres"])
    low["spacing"] = [s * 1.6 for s in low["spacing"]]
    low["next_stage"] = "3d_cascade_fullres"
    configs["3d_lowres"] = low
    configs["3d_cascade_fullres"] = {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
    weights = torch.load(LESION / "fold_0" / "checkpoint_final.pth", weights_only=False)["network_weights"]
    cascade = dict(weights)
    extra = torch.randn((4, 1, 3, 3, 3), generator=torch.Generator().manual_seed(0)) * 0.05
    for key, value in weights.items():
        if value.dim() == 5 and value.shape[1] == 1:  # the first convolution: + the previous stage's channel
            cascade[key] = torch.cat([value, extra], dim=1)
    return _stage(root, "3d_lowres", plans, weights), _stage(root, "3d_cascade_fullres", plans, cascade)


def _theirs(low, cascade, path):
    """nnU-Net's low-resolution segmentation, its cascade input (run_case_npy + one-hot) and its prediction."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

    first, _ = theirs(predictor(low, float64=True), path)
    first = first.astype(np.int16)  # as SimpleITKIO.read_seg gives the file nnUNetv2_predict wrote
    p = predictor(cascade, float64=True)
    data, props = SimpleITKIO().read_images([str(path)])
    pre = p.configuration_manager.preprocessor_class(verbose=False)
    x, seg, _ = pre.run_case_npy(data, first[None], props, p.plans_manager, p.configuration_manager, p.dataset_json)
    x = np.vstack((x, convert_labelmap_to_one_hot(seg[0], p.label_manager.foreground_labels, x.dtype)))
    import nnunetv2.inference.predict_from_raw_data as module
    from helpers.nnunet_agreement import Float64Accumulation

    module.torch = Float64Accumulation()
    try:
        labels = p.predict_single_npy_array(data, props, first[None], None, False)
    finally:
        module.torch = torch
    return first, x, labels


def _ours(loaded, image):
    from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
    from SaliencyExplorerLib.models.nnunet import MirrorEnsemble
    from SaliencyExplorerLib.volumes.native_labels import argmax_on_native
    from SaliencyExplorerLib.workflow.localiser import chained_model_input, previous_stage_labels

    card = loaded.card
    first = previous_stage_labels([image], card)
    model_input = chained_model_input([image], card)
    plan = WindowPlan(SlidingWindow.of(card.inference), model_input.tensor.shape[2:])
    with torch.no_grad():
        logits = plan.infer(MirrorEnsemble(loaded.module, card.inference.mirror_axes), model_input.tensor)
    labels = argmax_on_native(logits.numpy(), model_input, card.output.activation)
    return sitk.GetArrayFromImage(first), model_input, sitk.GetArrayFromImage(labels)


@pytest.mark.parametrize("geometry", [geometries()[i] for i in (3, 13)], ids=lambda g: g[0])
def test_cascade_equals_nnunet(stages, geometry, tmp_path):
    path, truth = write_scan(tmp_path, geometry)
    low, cascade = stages
    loaded = load_model(cascade)
    card = loaded.card
    assert card.in_channels == 2 and card.image_channels == 1
    assert Path(card.previous_stage.model) == low and card.previous_stage.labels == (1,)
    their_first, their_input, their_labels = _theirs(low, cascade, path)
    first, model_input, labels = _ours(loaded, sitk.ReadImage(str(path)))
    assert their_first.sum() > 0 and float((first == their_first).mean()) >= 0.9999  # the first stage's answer
    ours_in = model_input.tensor[0].numpy()
    assert ours_in.shape == their_input.shape  # image + one-hot channel, on nnU-Net's grid
    assert np.abs(ours_in[0] - their_input[0]).max() < 1e-5
    assert np.array_equal(ours_in[1], their_input[1]) and 0 < ours_in[1].mean() < 0.5  # its labels, resized
    assert their_labels.sum() > 0 and float((labels == their_labels).mean()) >= 0.9999
    assert dice(labels, their_labels) >= 0.99
    assert dice(labels, truth) > 0.3  # a lesion where the scan has it


def test_explain_image_runs_the_cascade_and_a_missing_first_stage_is_one_line(stages, tmp_path):
    from SaliencyExplorerLib import explain_image

    low, cascade = stages
    name, suffix, size, spacing, direction = geometries()[3]
    image, _ = scan(size, spacing, direction, origin=SCAN_CENTRE, lesion_ras=LESION_RAS)
    result = explain_image(image, str(cascade), method="saliency", target=1, disable_tta=True)
    assert result.explanation.raw.shape[0] == 1 and result.model_input.tensor.shape[1] == 2
    assert sitk.GetArrayFromImage(result.prediction_image).sum() > 0
    moved = tmp_path / "alone" / cascade.name
    shutil.copytree(cascade, moved)
    with pytest.raises(ModelLoadError, match="3d_lowres.*is not beside this cascade stage") as info:
        load_model(moved)
    assert "\n" not in str(info.value)
