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

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_fixture import make_nnunet_folder, oblique_direction, synthetic_case, write_checkpoint  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.card import card_to_dict, parse_card  # noqa: E402
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


def test_derived_card_round_trips_and_names_the_plans(folder):
    card = load_model(folder).card
    assert parse_card(json.loads(json.dumps(card_to_dict(card)))) == card
    plans = json.loads((folder / "plans.json").read_text())
    config = plans["configurations"]["3d_fullres"]
    assert card.input.array_order == "zyx" and card.input.orientation is None
    assert card.input.spacing == tuple(config["spacing"][::-1])
    assert card.inference.roi_size == tuple(config["patch_size"]) and card.inference.tiling == "nnunet"
    assert card.classes == ("background", "body")


def _copy(folder, tmp_path):
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def test_bad_folders_fail_in_one_line(folder, tmp_path):
    broken = _copy(folder, tmp_path)
    with pytest.raises(ModelLoadError, match="fold_7"):
        load_model(broken / "fold_7")
    plans = json.loads((broken / "plans.json").read_text())
    del plans["configurations"]
    (broken / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(ModelLoadError, match=r"plans.json: field 'configurations'.*v2"):
        load_model(broken)


def test_checkpoint_that_does_not_fit_the_plans(folder, tmp_path):
    broken = _copy(folder, tmp_path)
    plans = json.loads((broken / "plans.json").read_text())
    dataset = json.loads((broken / "dataset.json").read_text())
    other = json.loads(json.dumps(plans))
    arch = other["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    arch["features_per_stage"] = [f * 2 for f in arch["features_per_stage"]]
    write_checkpoint(broken / "fold_0" / "checkpoint_final.pth", other, dataset, 0)
    with pytest.raises(ModelLoadError, match=r"checkpoint_final.pth: field 'network_weights'.*plans.json"):
        load_model(broken / "fold_0")


def test_unsupported_normalisation_and_unsafe_checkpoint(folder, tmp_path):
    broken = _copy(folder, tmp_path)
    plans = json.loads((broken / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["normalization_schemes"] = ["MyNormalization"]
    (broken / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(ModelLoadError, match="normalization_schemes.*MyNormalization"):
        load_model(broken)
    unsafe = _copy(folder, tmp_path / "u")
    torch.save({"network_weights": {}, "hook": sitk.Image}, unsafe / "fold_0" / "checkpoint_final.pth")
    with pytest.raises(ModelLoadError, match="run code"):
        load_model(unsafe / "fold_0")


def test_neither_folder(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelLoadError, match="neither an nnU-Net v2.*nor a MONAI bundle"):
        load_model(tmp_path / "plain")
    with pytest.raises(CardError):
        parse_card({"input": {"intensity": [{"clip_percentiles": [5]}]}})


def test_derived_card_says_mirroring_and_nnunet_resampling(folder):
    card = load_model(folder).card
    assert card.inference.mirror_axes == (0, 1, 2)  # the checkpoint's inference_allowed_mirroring_axes
    assert card.input.resampling == "nnunet"
    assert parse_card(json.loads(json.dumps(card_to_dict(card)))).inference.mirror_axes == (0, 1, 2)


@pytest.mark.parametrize("axes, match", [([0, 3], "beyond"), ([1, 1], "twice"), ("012", "list")])
def test_bad_mirror_axes_are_refused(folder, axes, match):
    data = card_to_dict(load_model(folder).card)
    data["inference"]["mirror_axes"] = axes
    with pytest.raises(CardError, match=match):
        parse_card(data)


def test_mirror_ensemble_equals_nnunet_test_time_mirroring(folder):
    """MirrorEnsemble == nnUNetPredictor._internal_maybe_mirror_and_predict on one window."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from SaliencyExplorerLib.models.nnunet import MirrorEnsemble

    loaded = load_model(folder / "fold_0")
    predictor = nnUNetPredictor(use_mirroring=True, device=torch.device("cpu"), verbose=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(folder), use_folds=(0,))
    x = torch.randn(1, 1, *loaded.card.inference.roi_size)
    theirs = predictor._internal_maybe_mirror_and_predict(x)
    with torch.no_grad():
        ours = MirrorEnsemble(loaded.module, loaded.card.inference.mirror_axes)(x)
        plain = loaded.module(x)
    assert float((theirs - ours).abs().max()) < 1e-5
    assert float((theirs - plain).abs().max()) > 1e-3  # the mirrored passes change this network's output


@pytest.mark.parametrize(
    "transpose, resampling, match",
    [([0, 0, 1], "nnunet", "permutation"), ([2, 0, 1], "physical", "only nnU-Net's resampling")],
)
def test_bad_transpose_is_refused(folder, transpose, resampling, match):
    data = card_to_dict(load_model(folder).card)
    data["input"].update(transpose=transpose, resampling=resampling)
    with pytest.raises(CardError, match=match):
        parse_card(data)


def test_gradient_of_the_mirrored_ensemble_is_the_mean_of_the_flipped_back_passes(folder):
    """What a gradient method explains under mirroring: the mirrored prediction exactly, i.e. the mean over the
    flips of each pass's signed gradient map, flipped back (the engine's saliency with reduce "sum", on a
    region). A |gradient| map is then |mean|, the ensemble's own, not the mean of the passes' |gradient|."""
    import itertools

    from SaliencyExplorerLib.core.engine import explain
    from SaliencyExplorerLib.models.nnunet import MirrorEnsemble

    loaded = load_model(folder / "fold_0")
    torch.manual_seed(0)
    x = torch.randn(1, 1, *loaded.card.inference.roi_size)  # one window
    region = torch.zeros(1, *x.shape[2:], dtype=torch.bool)
    region[0, 2:6, 3:8, 1:5] = True
    kwargs = {"method": "saliency", "reduce": "sum", "target": 1, "output_activation": "none", "relu": False}
    ours = explain(MirrorEnsemble(loaded.module, (0, 1, 2)), x, mask=region, **kwargs).raw
    passes = []

    def flip(t, axes):
        return torch.flip(t, axes) if axes else t

    for axes in [()] + [c for n in (1, 2, 3) for c in itertools.combinations((2, 3, 4), n)]:
        raw = explain(loaded.module, flip(x, axes), mask=flip(region[:, None], axes)[:, 0], **kwargs).raw
        raw = torch.as_tensor(raw)  # (N, *spatial): the spatial axes are one lower than the input's
        passes.append(torch.flip(raw, tuple(a - 1 for a in axes)) if axes else raw)
    expected = torch.stack(passes).mean(0).numpy()
    assert np.abs(ours - expected).max() <= 1e-5 * np.abs(expected).max()


def test_missing_network_package_names_the_setup_option(monkeypatch):
    import importlib

    from SaliencyExplorerLib.models import nnunet

    real = importlib.import_module

    def no_dna(name, *args):
        if name.startswith("dynamic_network_architectures"):
            raise ImportError("No module named 'dynamic_network_architectures'")
        return real(name, *args)

    monkeypatch.setattr(nnunet.importlib, "import_module", no_dna)
    with pytest.raises(
        ModelLoadError,
        match=r"bash scripts/setup_env.sh nnunet.*dynamic-network-architectures "
        r"--no-deps",
    ):
        nnunet._architecture_class()
    script = (nnunet.Path(__file__).resolve().parents[2] / "scripts" / "setup_env.sh").read_text()
    nnunet_branch = script[script.index("*,nnunet,*)") :]
    assert "--no-deps" in nnunet_branch.split(";;")[0] and "dynamic-network-architectures" in nnunet_branch
