"""The model grid (volumes/grid.py): anatomical orientation codes in LPS space, the native grid kept without card
fields, a card grid centred on and covering the volume, the foreground centre at the bright region's centroid.

Truth is independent of grid.py: SimpleITK's own index<->point transforms and the phantom's known lesion centre.
"""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.geometry import to_model
from SaliencyExplorerLib.volumes.grid import Grid, model_grid, orientation_matrix

OBLIQUE = rotation_direction((20, -25, 0))


def test_orientation_codes_are_anatomical_in_lps_space():
    # RAS: i points to the patient's Right, which is -x in LPS
    assert np.array_equal(orientation_matrix("RAS"), np.diag([-1.0, -1.0, 1.0]))
    assert np.array_equal(orientation_matrix("LPS"), np.eye(3))
    assert np.array_equal(orientation_matrix("PIR")[:, 0], [0, 1, 0])  # i -> Posterior = +y


def test_no_card_fields_keep_the_native_grid_exactly():
    img, _ = make_phantom(size=(20, 18, 9), spacing=(0.7, 0.7, 3.0), direction=OBLIQUE)
    card = parse_card({})
    grid = model_grid(img, card)
    assert grid.size == img.GetSize() and grid.spacing == img.GetSpacing()
    assert np.allclose(grid.origin, img.GetOrigin(), atol=1e-9)
    assert np.allclose(grid.direction, img.GetDirection(), atol=1e-12)
    x = to_model(img, card).tensor
    assert tuple(x.shape) == (1, 1, 20, 18, 9)  # xyz: (N, C, i, j, k)
    assert np.allclose(x[0, 0].numpy().transpose(2, 1, 0), sitk.GetArrayFromImage(img), atol=1e-3)


def test_card_grid_is_centred_and_covers_the_volume():
    img, _ = make_phantom(size=(40, 36, 12), spacing=(0.7, 0.8, 3.0), direction=OBLIQUE)
    grid = model_grid(img, parse_card({"input": {"orientation": "RAS", "spacing": [2, 2, 2]}}))
    assert np.array_equal(grid.matrix, np.diag([-1.0, -1.0, 1.0])) and grid.spacing == (2.0, 2.0, 2.0)
    native = Grid.of(img)
    assert np.allclose(grid.center(), native.center(), atol=1e-9)
    # every native corner lies inside the model grid's extent
    ref = grid.image()
    idx = np.array([ref.TransformPhysicalPointToContinuousIndex(tuple(c)) for c in native.corners()])
    assert (idx >= -0.5 - 1e-6).all() and (idx <= np.array(grid.size) - 0.5 + 1e-6).all()
    # the given size wins, the centre stays
    sized = model_grid(img, parse_card({"input": {"orientation": "LPS", "size": [16, 16, 16]}}))
    assert sized.size == (16, 16, 16) and np.allclose(sized.center(), native.center())


def test_foreground_centre_is_the_bright_region_centroid():
    img, mask = make_phantom(size=(40, 40, 20), lesion_center_lps=(10.0, -6.0, 4.0), lesion_radius_mm=4, noise_hu=0)
    grid = model_grid(img, parse_card({"input": {"center": {"foreground": 100}, "size": [8, 8, 8]}}))
    assert np.allclose(grid.center(), [10.0, -6.0, 4.0], atol=0.3)
    with pytest.raises(SaliencyError, match="foreground threshold"):
        model_grid(img, parse_card({"input": {"center": {"foreground": 5000}}}))
