"""nnU-Net v2 folders: our pipeline's segmentation equals nnUNetPredictor's on an oblique, anisotropic scan.

The folder is planned by nnU-Net itself on a tiny synthetic dataset (nnunet_fixture.py), two folds with
random weights. Ours: the derived card's model input (nnU-Net's index-space resize), our sliding-window
blend, the logits brought back to the scan's grid linearly, softmax, argmax. Theirs: nnUNetPredictor
without mirroring (mirroring, the labels on the native grid and anisotropic scans are covered with a
trained lesion network in Testing/fidelity/test_nnunet_fidelity.py).

nnUNetPredictor accumulates the blended logits in float16; where the Gaussian weights are tiny (the scan's
borders and corners) that rounding alone moves its logits by up to ~0.5. So the probabilities are compared
twice: with nnUNetPredictor as it is (labels, and the bulk of the probabilities), and with the same
predictor accumulating in float64 (its own module's ``torch.half`` pointed at float64), where every
probability must agree within 1e-3.
"""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_fixture import make_nnunet_folder, oblique_direction, synthetic_case  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.card import parse_card  # noqa: E402
from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan  # noqa: E402
from SaliencyExplorerLib.errors import CardError, ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402
from SaliencyExplorerLib.models.nnunet import FoldEnsemble  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import heatmap_to_native, to_model  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_nnunet_folder(tmp_path_factory.mktemp("nnunet"))


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    image, _ = synthetic_case(
        11, size=(34, 28, 18), spacing=(0.9, 1.5, 2.4), direction=oblique_direction(), origin=(-12.0, 7.5, 30.0)
    )
    path = tmp_path_factory.mktemp("scan") / "scan_0000.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def ours(model_dir, path):
    """Softmax probabilities (C, k, j, i) on the scan's own grid, and the loaded model."""
    loaded = load_model(model_dir)
    image = sitk.ReadImage(str(path))
    model_input = to_model(image, loaded.card)
    plan = WindowPlan(SlidingWindow.of(loaded.card.inference), model_input.tensor.shape[2:])
    with torch.no_grad():
        logits = plan.infer(loaded.module, model_input.tensor)
    native = np.stack(
        [sitk.GetArrayFromImage(heatmap_to_native(logits[:, c].numpy(), model_input)) for c in range(logits.shape[1])]
    )
    return torch.softmax(torch.from_numpy(native), 0).numpy(), loaded


class _Float64Accumulation:
    """``torch`` as nnU-Net's predictor module sees it, except that ``torch.half`` is float64."""

    half = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


def theirs(model_dir, path, folds, monkeypatch=None):
    import nnunetv2.inference.predict_from_raw_data as predict_module
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    if monkeypatch is not None:
        monkeypatch.setattr(predict_module, "torch", _Float64Accumulation())
    predictor = nnUNetPredictor(
        tile_step_size=0.5,
        use_gaussian=True,
        use_mirroring=False,
        device=torch.device("cpu"),
        verbose=False,
        allow_tqdm=False,
    )
    predictor.initialize_from_trained_model_folder(str(model_dir), use_folds=folds)
    data, props = SimpleITKIO().read_images([str(path)])
    seg, probs = predictor.predict_single_npy_array(data, props, None, None, True)
    return seg, probs


@pytest.mark.parametrize("folds", [(0, 1), (0,)])
def test_segmentation_and_probabilities_match_nnunet(folder, scan, folds, monkeypatch):
    model_dir = folder if len(folds) > 1 else folder / f"fold_{folds[0]}"
    probs, loaded = ours(model_dir, scan)
    assert isinstance(loaded.module, FoldEnsemble) == (len(folds) > 1)
    seg, their_probs = theirs(folder, scan, folds)
    assert probs.shape == their_probs.shape
    agree = float((probs.argmax(0) == seg).mean())
    diff = np.abs(probs - their_probs)
    print(
        f"nnU-Net folds {folds}: labels agree on {agree:.4%} of voxels, probability difference max "
        f"{diff.max():.2e}, 99th percentile {np.percentile(diff, 99):.2e} (nnU-Net's float16 accumulation)"
    )
    assert agree >= 0.995
    assert np.percentile(diff, 95) < 1e-3
    seg64, probs64 = theirs(folder, scan, folds, monkeypatch)
    agree64 = float((probs.argmax(0) == seg64).mean())
    diff64 = float(np.abs(probs - probs64).max())
    print(f"  float64 accumulation: labels agree on {agree64:.4%}, max probability difference {diff64:.2e}")
    assert agree64 == 1.0 and diff64 < 1e-4


def test_heatmap_lands_on_the_native_grid(folder, scan):
    image = sitk.ReadImage(str(scan))
    result = explain_image(image, folder, method="saliency", target="body")
    heat = result.heatmap_image
    assert heat.GetSize() == image.GetSize() and heat.GetSpacing() == image.GetSpacing()
    assert heat.GetOrigin() == image.GetOrigin() and heat.GetDirection() == image.GetDirection()
    assert float(sitk.GetArrayViewFromImage(heat).max()) > 0


def test_neither_folder(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelLoadError, match="neither an nnU-Net v2.*nor a MONAI bundle"):
        load_model(tmp_path / "plain")
    with pytest.raises(CardError):
        parse_card({"input": {"intensity": [{"clip_percentiles": [5]}]}})
