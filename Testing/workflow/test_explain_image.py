"""explain_image(): a lesion planted at a known physical point, in many native geometries; the heatmap's
peak must land inside it and the output must sit on the input's own grid exactly."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.geometry_helpers import CT_CARD, BlobNet, HalfNet, SegNet, two_lesion_phantom
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.errors import CardError, SaliencyError
from SaliencyExplorerLib.volumes.image_files import read_image, write_image
from SaliencyExplorerLib.workflow.explain_image import explain_image

LESION = (9.0, -6.0, 4.0)


def card_with(**inp):
    return {**CT_CARD, "input": {**CT_CARD["input"], **inp}}


def assert_same_grid(out, img):
    assert out.GetSize() == img.GetSize()
    for got, want in (
        (out.GetSpacing(), img.GetSpacing()),
        (out.GetOrigin(), img.GetOrigin()),
        (out.GetDirection(), img.GetDirection()),
    ):
        assert np.allclose(got, want, atol=1e-6, rtol=0)


def peak_in_lesion(result, mask):
    idx = mask.TransformPhysicalPointToIndex(tuple(result.peak_lps))
    return bool(sitk.GetArrayViewFromImage(mask)[idx[::-1]])


GEOMETRIES = {
    "lps_identity": dict(size=(48, 44, 36), spacing=(1.0, 1.0, 1.0), direction=None),
    "oblique_two_axes": dict(size=(48, 44, 36), spacing=(1.0, 1.1, 1.2), direction=rotation_direction((25, -15, 0))),
    "oblique_10_30": dict(size=(48, 44, 36), spacing=(1.0, 1.0, 1.0), direction=rotation_direction((0, 10, 30))),
    "anisotropic": dict(size=(60, 60, 14), spacing=(0.7, 0.7, 3.0), direction=None),
    "oblique_anisotropic": dict(size=(60, 60, 14), spacing=(0.7, 0.7, 3.0), direction=rotation_direction((15, 20, 0))),
    "flipped": dict(size=(48, 44, 30), spacing=(1.0, 1.0, 1.3), direction=tuple(np.diag([-1.0, 1.0, -1.0]).ravel())),
}


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("orientation", ["RAS", None])
def test_peak_lands_in_the_lesion_in_every_geometry(name, orientation):
    img, mask = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, seed=3, **GEOMETRIES[name])
    before = sitk.GetArrayFromImage(img).copy()
    card = card_with(orientation=orientation, spacing=[1.5, 1.5, 1.5] if orientation else None)
    result = explain_image(img, BlobNet(), card)
    assert_same_grid(result.heatmap_image, img)
    assert result.heatmap_image.GetPixelID() == sitk.sitkFloat32
    heat = sitk.GetArrayFromImage(result.heatmap_image)
    assert heat.min() >= 0 and 0.9 <= heat.max() <= 1.0
    assert peak_in_lesion(result, mask), f"peak {result.peak_lps} is not in the lesion at {LESION}"
    assert np.linalg.norm(result.peak_lps - LESION) < 6.0
    assert np.allclose(result.peak_ras, result.peak_lps * [-1, -1, 1])
    assert result.target_index == 1 and result.target_name == "lesion" and 0.5 < result.score <= 1
    assert set(result.timings) >= {"to_model", "explain", "to_native", "total"}
    assert np.array_equal(sitk.GetArrayFromImage(img), before)  # the input is untouched


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_file_round_trip_keeps_the_heatmap_on_the_anatomy(tmp_path, suffix):
    img, mask = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, **GEOMETRIES["oblique_anisotropic"])
    src = write_image(img, tmp_path / f"ct{suffix}")
    loaded = read_image(src)
    result = explain_image(loaded, BlobNet(), card_with(orientation="RAS", spacing=[1.5, 1.5, 1.5]))
    out = read_image(write_image(result.heatmap_image, tmp_path / f"heat{suffix}", inputs=[src]))
    assert_same_grid(out, loaded)
    assert_same_grid(out, img) if suffix == ".nrrd" else None
    heat = sitk.GetArrayFromImage(out)
    idx = np.unravel_index(int(np.argmax(heat)), heat.shape)[::-1]
    point = out.TransformIndexToPhysicalPoint([int(i) for i in idx])
    assert sitk.GetArrayViewFromImage(mask)[mask.TransformPhysicalPointToIndex(point)[::-1]] == 1
    if suffix == ".nrrd":  # the file says how it was made, so `figure` can title it
        assert out.GetMetaData("SaliencyExplorer_method") == "gradcam"
        assert float(out.GetMetaData("SaliencyExplorer_score")) == pytest.approx(result.score, abs=1e-5)


@pytest.mark.parametrize("order,expected", [("xyz", "left_superior"), ("zyx", "right_inferior")])
def test_array_order_xyz_and_zyx_each_land_on_their_lesion(order, expected):
    """HalfNet looks only at the first half of tensor dim 2: Left (xyz, RAS i) or Inferior (zyx, RAS k)."""
    left_superior = (25.0, 0.0, 12.0)  # L is +x in LPS
    right_inferior = (-25.0, 0.0, -12.0)
    img, m_ls, m_ri = two_lesion_phantom(
        (64, 40, 40), (1.0, 1.0, 1.0), rotation_direction((10, 0, 20)), left_superior, right_inferior
    )
    card = card_with(orientation="RAS", array_order=order, spacing=[1.5, 1.5, 1.5], size=[48, 32, 32])
    result = explain_image(img, HalfNet(), card)
    target_mask = m_ls if expected == "left_superior" else m_ri
    other_mask = m_ri if expected == "left_superior" else m_ls
    assert peak_in_lesion(result, target_mask) and not peak_in_lesion(result, other_mask)
    assert_same_grid(result.heatmap_image, img)


def test_two_dimensional_model_explains_every_slice_of_a_volume():
    img, mask = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, **GEOMETRIES["oblique_two_axes"])
    card = {**card_with(orientation="LPS", spacing=[1.5, 1.5]), "spatial_dims": 2}
    result = explain_image(img, BlobNet(spatial_dims=2), card)
    n_slices = result.model_input.grid.size[2]
    assert result.model_heatmap.shape[0] == n_slices > 1
    assert result.model_heatmap.max() == pytest.approx(1.0)  # one scale for the whole stack
    assert_same_grid(result.heatmap_image, img)
    assert peak_in_lesion(result, mask)
    # slices far from the lesion are cold: the stack is not normalised slice by slice
    per_slice = result.model_heatmap.reshape(n_slices, -1).max(1)
    assert per_slice.min() < 0.05


def test_two_dimensional_image_with_a_two_dimensional_model():
    img, mask = make_phantom(
        size=(64, 56),
        spacing=(0.8, 1.1),
        direction=rotation_direction(25),
        lesion_center_lps=(6.0, -5.0),
        lesion_radius_mm=6.0,
    )
    result = explain_image(img, BlobNet(spatial_dims=2), {**CT_CARD, "spatial_dims": 2})
    assert result.heatmap_image.GetDimension() == 2
    assert_same_grid(result.heatmap_image, img)
    assert sitk.GetArrayViewFromImage(mask)[mask.TransformPhysicalPointToIndex(tuple(result.peak_lps[:2]))[::-1]]


def test_multichannel_inputs_on_different_grids_are_co_registered():
    ct, mask = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, **GEOMETRIES["oblique_two_axes"])
    other, _ = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, seed=9, **GEOMETRIES["anisotropic"])
    card = {**card_with(orientation="RAS", spacing=[1.5, 1.5, 1.5]), "in_channels": 2}
    result = explain_image([ct, other], BlobNet(in_channels=2), card)
    assert result.model_input.tensor.shape[1] == 2
    assert_same_grid(result.heatmap_image, ct)
    assert peak_in_lesion(result, mask)
    with pytest.raises(SaliencyError, match="in_channels=2"):
        explain_image(ct, BlobNet(in_channels=2), card)


def test_segmentation_target_region_travels_by_nearest_neighbour():
    img, m1, m2 = two_lesion_phantom(
        (48, 44, 36),
        (1.0, 1.1, 1.2),
        rotation_direction((25, -15, 0)),
        (12.0, -6.0, 4.0),
        (-12.0, 6.0, -4.0),
        radius=5.0,
    )
    card = {**card_with(orientation="RAS", spacing=[1.5, 1.5, 1.5]), "task": "segmentation"}
    for region, other in ((m1, m2), (m2, m1)):
        # HiResCAM (gradient x activation per voxel) sees the region; plain Grad-CAM averages it away
        result = explain_image(img, SegNet(), card, method="hirescam", target="lesion", region_mask=region)
        assert result.target_index == 1
        assert peak_in_lesion(result, region) and not peak_in_lesion(result, other)


def test_target_by_name_and_bad_targets():
    img, _ = make_phantom(size=(24, 24, 16), lesion_center_lps=(3.0, 0.0, 0.0), lesion_radius_mm=4)
    result = explain_image(img, BlobNet(), CT_CARD, target="No Lesion")
    assert result.target_index == 0 and result.target_name == "no lesion"
    with pytest.raises(CardError, match="known classes"):
        explain_image(img, BlobNet(), CT_CARD, target="tumour")
    with pytest.raises(SaliencyError, match="out of range"):
        explain_image(img, BlobNet(), CT_CARD, target=5)


class NormedBlobNet(BlobNet):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = torch.nn.BatchNorm2d(1)

    def forward(self, x):
        return super().forward(self.norm(x))


def test_two_dimensional_stack_leaves_batch_norm_statistics_alone():
    """The stack's common class is found with the model in eval mode, as explain() runs it."""
    img, mask = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, **GEOMETRIES["lps_identity"])
    model = NormedBlobNet(spatial_dims=2)
    model.train()
    before = model.norm.running_mean.clone(), model.norm.num_batches_tracked.clone()
    result = explain_image(img, model, {**card_with(spacing=[2.0, 2.0]), "spatial_dims": 2})
    assert result.target_index == 1 and model.training
    assert torch.equal(model.norm.running_mean, before[0]) and torch.equal(model.norm.num_batches_tracked, before[1])


def test_two_dimensional_stack_of_a_signed_method_keeps_zero_at_zero():
    """Signed maps are scaled by the stack's largest magnitude, as the engine scales one sample."""
    img, _ = make_phantom(lesion_center_lps=LESION, lesion_radius_mm=6.0, **GEOMETRIES["lps_identity"])
    card = {**card_with(spacing=[2.0, 2.0]), "spatial_dims": 2}
    # class 0's logit is -blob: input >= 0 times a gradient <= 0, so the map is negative where it matters
    result = explain_image(img, BlobNet(spatial_dims=2), card, method="inputxgradient", target=0)
    raw = result.explanation.raw
    assert raw.min() < 0  # min-max scaling would put the strongest evidence at 0 and zero at 1
    assert np.allclose(result.model_heatmap, np.abs(raw) / np.abs(raw).max(), atol=1e-6)
