"""compare_image: every method's map on the volume's own grid, and a comparison that survives the job
folder (save_comparison / load_comparison) with the same rows and maps."""

import numpy as np
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch")

from helpers.slicer_models import BrightSpot  # noqa: E402
from SaliencyExplorerLib.demo import phantoms  # noqa: E402
from SaliencyExplorerLib.workflow.compare_image import compare_image, load_comparison, save_comparison  # noqa: E402

CHECKS = {"steps": 8, "random_repeats": 1, "sanity_layers": 1}


@pytest.fixture(scope="module")
def compared():
    image, mask = phantoms.make_phantom(
        size=(30, 26, 10),
        spacing=(0.9, 1.1, 3.0),
        direction=phantoms.rotation_direction((15.0, -10.0, 20.0)),
        lesion_center_lps=(5.0, -4.0, 3.0),
        lesion_radius_mm=6.0,
    )
    card = {"spatial_dims": 3, "classes": ["none", "lesion"], "target_layer": "conv"}
    result = compare_image(image, BrightSpot().eval(), card, ["gradcam", "saliency"], "lesion", region=mask, **CHECKS)
    return image, mask, result


def test_maps_lie_on_the_volume_grid_and_gradcam_points_into_the_lesion(compared):
    image, mask, result = compared
    assert result.target_name == "lesion" and [r["rank"] for r in result.rows] == [1, 2]
    for name, heat in result.heatmap_images.items():
        assert heat.GetSize() == image.GetSize() and heat.GetDirection() == image.GetDirection()
        assert np.allclose(heat.GetOrigin(), image.GetOrigin()) and np.allclose(heat.GetSpacing(), image.GetSpacing())
    gradcam = sitk.GetArrayFromImage(result.heatmap_images["gradcam"])
    assert sitk.GetArrayFromImage(mask)[np.unravel_index(int(gradcam.argmax()), gradcam.shape)] == 1
    assert result.rows[0]["pointing_hit"] is True or result.rows[1]["pointing_hit"] is True


def test_a_saved_comparison_reads_back_the_same(compared, tmp_path):
    _, _, result = compared
    record = save_comparison(result, tmp_path)
    back = load_comparison(tmp_path, record)
    assert back.rows == result.to_dict()["table"] and back.target_name == "lesion"
    assert set(back.comparison.curves) == set(result.comparison.curves)
    for name, heat in result.heatmap_images.items():
        assert np.array_equal(sitk.GetArrayFromImage(back.heatmap_images[name]), sitk.GetArrayFromImage(heat))
