"""Region-based nnU-Net (issue 18): several sigmoid heads, labels drawn in ``regions_class_order``, as nnU-Net's
own predictor does; the region explained for a class is its head above 0.5, not an argmax across heads.

Model: the stored lesion network (``test_nnunet_fidelity``) made region-based as BraTS-style datasets are:
labels ``{"background": 0, "tissue": [1, 2], "lesion": [2]}``, ``regions_class_order`` [1, 2]; its two output
heads become nested regions (head 0: the lesion logit margin + 2, a wider region; head 1: the lesion logit
margin), a linear change of the last convolutions. Reference: nnUNetPredictor's defaults on the same folder.
Before this, the tool took the argmax across the sigmoid heads: labels 0/1 where nnU-Net writes 0/1/2.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_agreement import dice, ours, predictor, theirs  # noqa: E402
from helpers.nnunet_lesion_fixture import LESION_RAS, SCAN_CENTRE, geometries, scan, write_scan  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402

LESION = Path(__file__).parent / "data" / "nnunet_lesion" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
REGIONS = {"background": 0, "tissue": [1, 2], "lesion": [2]}


@pytest.fixture(scope="module")
def region_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("regions") / LESION.name
    shutil.copytree(LESION, out)
    dataset = json.loads((LESION / "dataset.json").read_text())
    dataset.update(labels=REGIONS, regions_class_order=[1, 2])
    (out / "dataset.json").write_text(json.dumps(dataset))
    path = out / "fold_0" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    weights = checkpoint["network_weights"]
    for key in [k for k in weights if k.startswith("decoder.seg_layers.")]:
        value = weights[key]
        margin = value[1] - value[0]  # the lesion's logit margin over background (softmax -> one sigmoid)
        weights[key] = torch.stack([margin + (2.0 if key.endswith("bias") else 0.0), margin])
    checkpoint["init_args"]["dataset_json"] = dataset
    torch.save(checkpoint, path)
    return out


@pytest.mark.parametrize("geometry", [geometries()[i] for i in (1, 19)], ids=lambda g: g[0])
def test_region_labels_equal_nnunet(region_folder, geometry, tmp_path):
    path, truth = write_scan(tmp_path, geometry)
    loaded = load_model(region_folder)
    assert loaded.card.output.activation == "sigmoid" and loaded.card.output.region_labels == (1, 2)
    assert loaded.card.classes == ("tissue", "lesion") or list(loaded.card.classes) == ["tissue", "lesion"]
    seg, probs, model_input = ours(loaded, path)
    ref_seg, ref_probs = theirs(predictor(region_folder, float64=True), path)
    box = (slice(None), *(slice(b0, b1) for b0, b1 in model_input.native_box))
    assert np.abs(probs - ref_probs[box]).max() < 1e-3
    assert set(np.unique(ref_seg)) == {0, 1, 2}  # both nested regions present in nnU-Net's answer
    assert float((seg == ref_seg).mean()) >= 0.9999
    assert dice(seg == 2, ref_seg == 2) >= 0.99 and dice(seg >= 1, ref_seg >= 1) >= 0.99
    assert dice(seg == 2, truth) > 0.4  # the inner region is the lesion, where the scan has it


def test_the_explained_region_is_the_head_not_an_argmax(region_folder, tmp_path):
    """Explaining "tissue" (head 0) covers every voxel nnU-Net puts in that region (labels 1 and 2), and the
    prediction output equals nnU-Net's labels."""
    name, suffix, size, spacing, direction = geometries()[1]
    image, _ = scan(size, spacing, direction, origin=SCAN_CENTRE, lesion_ras=LESION_RAS)
    path = tmp_path / f"{name}{suffix}"
    sitk.WriteImage(image, str(path))
    result = explain_image(image, str(region_folder), method="saliency", target=0, disable_tta=True)
    ref_seg, _ = theirs(predictor(region_folder, float64=True, mirroring=False), path)
    labels = sitk.GetArrayFromImage(result.prediction_image)
    assert float((labels == ref_seg).mean()) >= 0.9999
    assert result.prediction_labels() == {1: "tissue", 2: "lesion"}
    assert result.target_index == 0 and not any("predicts no" in w for w in result.warnings)
    p = 1.0 / (1.0 + np.exp(-result.explanation.scores[:, 0].astype(np.float64)))  # head 0 on the model grid
    inside = p > 0.5
    assert 0.001 < inside.mean() < 0.5  # a region, not the whole grid (an argmax across heads: all of it)
    assert result.score == pytest.approx(float(p[inside].mean()), abs=1e-5)  # mean inside head 0's region
