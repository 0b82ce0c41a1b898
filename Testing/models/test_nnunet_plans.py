"""nnU-Net folders read and checked (models/nnunet_plans.py): a missing fold, plans without configurations, an
unknown normalisation and a checkpoint that would run code each fail in one line naming the file and field.

The folder is planned by nnU-Net itself on a tiny synthetic dataset (helpers/nnunet_fixture.py), random weights.
"""

import json
import shutil

import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_fixture import make_nnunet_folder  # noqa: E402
from SaliencyExplorerLib.errors import ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_nnunet_folder(tmp_path_factory.mktemp("nnunet"))


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
