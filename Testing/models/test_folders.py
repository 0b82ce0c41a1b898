"""models.folders: a folder is recognised by the files it holds; one that is neither kind says what each
must contain, and an nnU-Net v1 folder is named as such. (Loading real folders: test_nnunet, test_monai_bundle.)"""

import pytest
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.folders import folder_kind, load_folder
from SaliencyExplorerLib.models.loading import load_model


def test_kinds_are_told_apart_by_their_files(tmp_path):
    nnunet = tmp_path / "Dataset001_X" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (nnunet / "fold_0").mkdir(parents=True)
    (nnunet / "plans.json").write_text("{}")
    (nnunet / "dataset.json").write_text("{}")
    bundle = tmp_path / "spleen_bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "metadata.json").write_text("{}")
    (bundle / "configs" / "inference.json").write_text("{}")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert folder_kind(nnunet) == "nnunet" and folder_kind(nnunet / "fold_0") == "nnunet"
    assert folder_kind(bundle) == "monai_bundle" and folder_kind(plain) is None


def test_a_folder_of_neither_kind_lists_what_each_needs(tmp_path):
    with pytest.raises(ModelLoadError, match=r"plans\.json, dataset\.json.*configs/metadata\.json"):
        load_folder(tmp_path)
    with pytest.raises(ModelLoadError, match="neither an nnU-Net v2"):  # the same through the one door
        load_model(tmp_path)
    (tmp_path / "plans.pkl").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="nnU-Net v1 folder"):
        load_folder(tmp_path)
