"""nnU-Net networks (models/nnunet_network.py): test-time mirroring equals nnUNetPredictor's, its gradient is the
mean of the flipped-back passes, and a missing network package names the set-up option.

The folder is planned by nnU-Net itself on a tiny synthetic dataset (helpers/nnunet_fixture.py), random weights.
"""

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_fixture import make_nnunet_folder, write_checkpoint  # noqa: E402
from SaliencyExplorerLib.errors import ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_nnunet_folder(tmp_path_factory.mktemp("nnunet"))


def test_mirror_ensemble_equals_nnunet_test_time_mirroring(folder):
    """MirrorEnsemble == nnUNetPredictor._internal_maybe_mirror_and_predict on one window."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from SaliencyExplorerLib.models.nnunet_network import MirrorEnsemble

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


def test_gradient_of_the_mirrored_ensemble_is_the_mean_of_the_flipped_back_passes(folder):
    """What a gradient method explains under mirroring: the mirrored prediction exactly, i.e. the mean over the
    flips of each pass's signed gradient map, flipped back (the engine's saliency with reduce "sum", on a
    region). A |gradient| map is then |mean|, the ensemble's own, not the mean of the passes' |gradient|."""
    import itertools

    from SaliencyExplorerLib.core.engine import explain
    from SaliencyExplorerLib.models.nnunet_network import MirrorEnsemble

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

    from SaliencyExplorerLib.models import nnunet_network as nnunet

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


def _copy(folder, tmp_path):
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


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
