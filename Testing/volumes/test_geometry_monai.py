"""Peer check: for an axis-aligned volume, our model tensor for orientation code X (array_order xyz, native
spacing and extent) must equal MONAI's LoadImage + Orientation(axcodes=X) voxel for voxel. MONAI reads the
NIfTI through nibabel (RAS affine), entirely independently of SimpleITK's LPS handling and of geometry.py."""

import warnings

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.demo.phantoms import make_phantom
from SaliencyExplorerLib.volumes.geometry import to_model

monai_transforms = pytest.importorskip("monai.transforms")


@pytest.mark.parametrize("flip", [(1, 1, 1), (-1, 1, -1), (1, -1, 1)])
@pytest.mark.parametrize("code", ["RAS", "LPS", "PIR", "SLA"])
def test_orientation_codes_match_monai(tmp_path, flip, code):
    img, _ = make_phantom(
        size=(20, 16, 12),
        spacing=(0.8, 0.9, 2.0),
        direction=tuple(np.diag(flip).ravel().astype(float)),
        lesion_center_lps=(3.0, -2.0, 1.0),
        lesion_radius_mm=3.0,
        seed=2,
    )
    path = tmp_path / "vol.nii.gz"
    sitk.WriteImage(img, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = monai_transforms.LoadImage(image_only=True, reader="NibabelReader")(str(path))
        data = monai_transforms.EnsureChannelFirst()(data)
        theirs = np.asarray(monai_transforms.Orientation(axcodes=code)(data))
    ours = to_model(sitk.ReadImage(str(path)), parse_card({"input": {"orientation": code}})).tensor[0].numpy()
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-3
