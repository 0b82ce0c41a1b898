"""``explain --prediction-output``: the model's own answer written beside the heatmap (issue 11, item 3).

Truth: for segmentation, a 1x1x1 convolution that labels voxels brighter than 100 HU (so the label volume
must equal the thresholded input, on the input's exact grid); for classification, the softmax of the
model's logits computed here directly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from SaliencyExplorerLib.cli import main  # noqa: E402
from torch import nn  # noqa: E402

THRESHOLD = 100.0


def _seg_files(tmp_path):
    conv = nn.Conv3d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-1.0, 1.0]).reshape(2, 1, 1, 1, 1))
        conv.bias.copy_(torch.tensor([THRESHOLD, -THRESHOLD]))
    model = nn.Sequential(conv).eval()
    path = tmp_path / "seg.pt"
    torch.jit.script(model).save(str(path))
    card = {"task": "segmentation", "spatial_dims": 3, "in_channels": 1, "classes": ["background", "bright"]}
    (tmp_path / "seg.json").write_text(json.dumps(card))
    return path


def _cls_files(tmp_path):
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv3d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(3, 3)
    ).eval()
    path = tmp_path / "cls.pt"
    torch.jit.script(model).save(str(path))
    card = {"spatial_dims": 3, "in_channels": 1, "classes": ["a", "b", "c"]}
    (tmp_path / "cls.json").write_text(json.dumps(card))
    return path, model


def _volume(tmp_path, name="vol.nrrd"):
    rng = np.random.default_rng(0)
    array = np.where(rng.random((8, 12, 10)) > 0.5, 160.0, 20.0).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 1.1, 2.5))
    image.SetOrigin((3.0, -7.0, 11.0))
    image.SetDirection(sitk.VersorRigid3DTransform([0.1, 0.2, 0.3, 0.9]).GetMatrix())
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path, image


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_segmentation_label_volume_is_the_thresholded_input_on_its_grid(tmp_path, suffix):
    model = _seg_files(tmp_path)
    volume, image = _volume(tmp_path)
    out = tmp_path / f"pred{suffix}"
    code = main(
        [
            "explain",
            "-i",
            str(volume),
            "-m",
            str(model),
            "-o",
            str(tmp_path / "h.nrrd"),
            "-q",
            "--method",
            "saliency",
            "--prediction-output",
            str(out),
        ]
    )
    assert code == 0
    label = sitk.ReadImage(str(out))
    assert label.GetSize() == image.GetSize()
    np.testing.assert_allclose(label.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(label.GetOrigin(), image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(label.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(label), sitk.GetArrayFromImage(image) > THRESHOLD)


def test_classification_json_is_the_softmax_of_the_logits(tmp_path, capsys):
    model_path, model = _cls_files(tmp_path)
    volume, image = _volume(tmp_path)
    out = tmp_path / "pred.json"
    code = main(
        [
            "explain",
            "-i",
            str(volume),
            "-m",
            str(model_path),
            "-o",
            str(tmp_path / "h.nrrd"),
            "-q",
            "--prediction-output",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    x = torch.from_numpy(sitk.GetArrayFromImage(image)).permute(2, 1, 0)[None, None].float()
    with torch.no_grad():
        expected = torch.softmax(model(x), 1)[0].numpy()
    record = json.loads(out.read_text())
    assert list(record["classes"]) == ["a", "b", "c"]
    np.testing.assert_allclose(list(record["classes"].values()), expected, atol=1e-6)
    assert record["top"] == "abc"[int(expected.argmax())]
    summary = json.loads(capsys.readouterr().out)
    assert summary["prediction_output"] == str(out)


def _error(capsys):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_other_suffixes_and_inputs_are_refused_before_anything_runs(tmp_path, capsys):
    model_path, _ = _cls_files(tmp_path)
    volume, _ = _volume(tmp_path)
    base = ["explain", "-i", str(volume), "-m", str(model_path), "-o", str(tmp_path / "h.nrrd"), "-q"]
    assert main(base + ["--prediction-output", str(tmp_path / "pred.txt")]) != 0
    assert "--prediction-output" in _error(capsys)
    assert main(base + ["--prediction-output", str(volume)]) != 0
    assert "never overwritten" in _error(capsys)
    assert main(base + ["--prediction-output", str(tmp_path / "cls.json")]) != 0  # the card is an input
    assert "never overwritten" in _error(capsys)
    assert main(base + ["--prediction-output", str(tmp_path / "h.nrrd")]) != 0  # the heatmap itself
    assert "never overwritten" in _error(capsys)
    assert not (tmp_path / "h.nrrd").exists()


def test_wrong_kind_for_the_task_names_the_right_suffix_and_writes_nothing(tmp_path, capsys):
    model_path, _ = _cls_files(tmp_path)
    volume, _ = _volume(tmp_path)
    heat = tmp_path / "h.nrrd"
    assert (
        main(
            [
                "explain",
                "-i",
                str(volume),
                "-m",
                str(model_path),
                "-o",
                str(heat),
                "-q",
                "--prediction-output",
                str(tmp_path / "pred.nrrd"),
            ]
        )
        != 0
    )
    assert ".json" in _error(capsys)
    seg = _seg_files(tmp_path)
    assert (
        main(
            [
                "explain",
                "-i",
                str(volume),
                "-m",
                str(seg),
                "-o",
                str(heat),
                "-q",
                "--method",
                "saliency",
                "--prediction-output",
                str(tmp_path / "pred.json"),
            ]
        )
        != 0
    )
    assert ".nrrd" in _error(capsys)
    assert not heat.exists() and not (tmp_path / "pred.nrrd").exists() and not (tmp_path / "pred.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
