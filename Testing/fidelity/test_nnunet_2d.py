"""nnU-Net's 2d configuration (issue 18): the tool's input and prediction equal nnU-Net's. nnU-Net's 2d model
sees the same preprocessed volume as its 3d ones (crop, normalise, index-space resize in-plane, the slice axis
kept) slice by slice, and its logits come back the same way; with ``input.resampling: "nnunet"`` on 2D cards
the tool does too (it resampled through patient space before: 99.77-99.88% agreement on these scans).

Model: the stored lesion dataset's own ``2d`` plans (planned by nnU-Net), random weights (features / 8).
Reference: nnUNetPredictor's defaults (mirroring over both in-plane axes, float64 accumulation) and its
DefaultPreprocessor for the input.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_agreement import predictor, their_input, theirs  # noqa: E402
from helpers.nnunet_fixture import write_checkpoint  # noqa: E402
from helpers.nnunet_lesion_fixture import geometries, write_scan  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import to_model  # noqa: E402

LESION = Path(__file__).parent / "data" / "nnunet_lesion" / "nnUNetTrainer__nnUNetPlans__3d_fullres"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("nnunet2d") / "Dataset042_Lesion" / "nnUNetTrainer__nnUNetPlans__2d"
    out.mkdir(parents=True)
    plans = json.loads((LESION / "plans.json").read_text())
    arch = plans["configurations"]["2d"]["architecture"]["arch_kwargs"]
    arch["features_per_stage"] = [max(2, f // 8) for f in arch["features_per_stage"]]
    dataset = json.loads((LESION / "dataset.json").read_text())
    (out / "plans.json").write_text(json.dumps(plans))
    (out / "dataset.json").write_text(json.dumps(dataset))
    path = out / "fold_0" / "checkpoint_final.pth"
    write_checkpoint(path, plans, dataset, 0, seed=0, configuration="2d")
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["inference_allowed_mirroring_axes"] = (0, 1)  # what nnU-Net's trainer stores for 2d
    torch.save(checkpoint, path)
    return out


@pytest.mark.parametrize("geometry", [geometries()[i] for i in (1, 5, 15)], ids=lambda g: g[0])
def test_2d_input_and_prediction_equal_nnunet(folder, geometry, tmp_path):
    path, _ = write_scan(tmp_path, geometry)
    p = predictor(folder, float64=True)
    ref, _ = theirs(p, path)
    image = sitk.ReadImage(str(path))
    result = explain_image(image, str(folder), method="saliency", target=1)
    card = result.card
    assert card.spatial_dims == 2 and card.input.resampling == "nnunet"
    ours_in = to_model(image, card).tensor.numpy()  # (slices, C, j, i)
    ref_in = their_input(p, path)  # (C, k, j, i)
    assert ours_in.shape == (ref_in.shape[1], ref_in.shape[0], *ref_in.shape[2:])
    assert np.abs(ours_in.transpose(1, 0, 2, 3) - ref_in).max() < 1e-5
    labels = sitk.GetArrayFromImage(result.prediction_image)
    assert 0 < ref.sum() < ref.size and float((labels == ref).mean()) == 1.0
    heat = sitk.GetArrayFromImage(result.heatmap_image)
    assert heat.shape == labels.shape and 0.5 < float(heat.max()) <= 1.0  # the map on the scan's own grid
