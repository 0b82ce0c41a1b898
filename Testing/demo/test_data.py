"""Synthetic cases for the demo model: random oblique, anisotropic phantoms with or without a lesion, sent
through the demo card's preprocessing, reproducible from a seed.

Truth: the shipped card (the data must be what the shipped model was trained on), each phantom's own
lesion mask, and the card's window (model inputs lie in [0, 1]).
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.paths import SAMPLES
from SaliencyExplorerLib.demo.data import DEMO_CARD, model_tensors, random_case
from SaliencyExplorerLib.demo.phantoms import lesion_center_of


@pytest.mark.skipif(not (SAMPLES / "lesion_classifier.json").exists(), reason="demo files made by scripts/make_demo.py")
def test_the_card_is_the_shipped_models_card():
    assert json.loads((SAMPLES / "lesion_classifier.json").read_text()) == DEMO_CARD


def test_a_lesion_case_has_its_lesion_where_it_says_and_within_the_ranges():
    image, mask, centre, radius = random_case(np.random.default_rng(3), lesion=True)
    size, spacing = image.GetSize(), image.GetSpacing()
    assert 48 <= size[0] <= 64 and 48 <= size[1] <= 64 and 14 <= size[2] <= 24
    assert all(1.6 <= s <= 2.2 for s in spacing[:2]) and 3.0 <= spacing[2] <= 5.0
    assert 4.5 <= radius <= 11.0
    assert sitk.GetArrayFromImage(mask).any()
    assert np.linalg.norm(lesion_center_of(image, mask) - centre) < max(spacing)  # mask centroid = centre
    inside = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) > 0].mean()
    assert inside > 60  # lesions are 85-200 HU over a 40 HU body


def test_a_case_without_lesion_has_an_empty_mask_and_cases_repeat_from_the_seed():
    image, mask, centre, _ = random_case(np.random.default_rng(5), lesion=False)
    assert centre is None and not sitk.GetArrayFromImage(mask).any()
    again, _, _, _ = random_case(np.random.default_rng(5), lesion=False)
    assert np.array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(again))


def test_model_tensors_are_the_cards_input_half_with_a_lesion():
    x, labels = model_tensors(4, seed=11)
    assert x.shape == (4, 1, 32, 32, 32) and x.dtype == torch.float32
    assert labels.tolist().count(1) == 2 and labels.dtype == torch.long
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0  # the card's window to [0, 1]
    x2, labels2 = model_tensors(4, seed=11)
    assert torch.equal(x, x2) and torch.equal(labels, labels2)


def test_the_shipped_lesion_mask_is_the_sphere_sample_ct_json_describes():
    """Truth: sample_ct.json (centre in RAS, radius) and the sphere's volume 4/3 pi r^3; the file is the one
    scripts/make_demo.py writes, and equals what sample_lesion_mask() makes now."""
    from SaliencyExplorerLib.demo.data import sample_lesion_mask, sample_lesion_path

    info = json.loads((SAMPLES / "sample_ct.json").read_text())
    mask = sitk.ReadImage(str(sample_lesion_path(SAMPLES)))
    ct = sitk.ReadImage(str(SAMPLES / "sample_ct.nrrd"))
    assert mask.GetSize() == ct.GetSize() and np.allclose(mask.GetOrigin(), ct.GetOrigin())
    assert np.allclose(mask.GetSpacing(), ct.GetSpacing()) and np.allclose(mask.GetDirection(), ct.GetDirection())
    voxels = sitk.GetArrayFromImage(mask)
    assert set(np.unique(voxels)) == {0, 1}
    centre_ras = lesion_center_of(mask, mask) * np.array([-1.0, -1.0, 1.0])
    assert np.linalg.norm(centre_ras - info["lesion_center_ras_mm"]) < min(ct.GetSpacing())
    volume = voxels.sum() * np.prod(ct.GetSpacing())
    sphere = 4 / 3 * np.pi * info["lesion_radius_mm"] ** 3
    assert abs(volume - sphere) / sphere < 0.05, (volume, sphere)
    assert voxels.sum() == info["lesion_voxels"]  # the phantom's own mask when the sample was made
    assert np.array_equal(sitk.GetArrayFromImage(sample_lesion_mask(SAMPLES)), voxels)
