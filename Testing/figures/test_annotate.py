"""Orientation letters, slice positions, titles and outlines, against geometry worked out by hand."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.figures import annotate

IDENTITY = (1, 0, 0, 0, 1, 0, 0, 0, 1)


def test_letters_of_an_lps_volume():
    """i -> L, j -> P, k -> S. An axial slice (array axis 0) has rows along j (anterior at the top) and
    columns along i (patient right on the left); a coronal one rows along k: inferior at the top."""
    assert annotate.edge_letters(IDENTITY, 0) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert annotate.edge_letters(IDENTITY, 1) == {"top": "I", "bottom": "S", "left": "R", "right": "L"}
    assert annotate.edge_letters(IDENTITY, 2) == {"top": "I", "bottom": "S", "left": "A", "right": "P"}


def test_letters_follow_a_flipped_volume():
    """Flip i (columns) and k: the left edge is now L, and in coronal slices superior is at the top."""
    flipped = (-1, 0, 0, 0, 1, 0, 0, 0, -1)
    assert annotate.edge_letters(flipped, 0) == {"top": "A", "bottom": "P", "left": "L", "right": "R"}
    assert annotate.edge_letters(flipped, 1) == {"top": "S", "bottom": "I", "left": "L", "right": "R"}


def test_letters_of_a_dicom_oriented_lpi_image_put_anterior_up_and_left_right():
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # RAS-stored
    lpi = sitk.DICOMOrient(image, "LPI")
    assert annotate.edge_letters(lpi.GetDirection(), 0) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert annotate.edge_letters(lpi.GetDirection(), 1) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}


def test_letters_of_an_oblique_volume_take_the_closest_axis():
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted = (c, -s, 0, s, c, 0, 0, 0, 1)  # i points mostly to L, a little to P
    assert annotate.edge_letters(tilted, 0)["right"] == "L" and annotate.edge_letters(tilted, 0)["bottom"] == "P"


def test_slice_position_in_ras_mm():
    """Origin (LPS) (10, 20, -30), spacing 2 mm, identity: slice k=5 lies at LPS z = -30 + 10 = -20 = S -20."""
    geometry = annotate.Geometry((10.0, 20.0, -30.0), (1.0, 1.0, 2.0), IDENTITY)
    assert annotate.slice_position(geometry, (8, 6, 4), 0, 5) == ("S", pytest.approx(-20.0))
    # a sagittal slice (array axis 2, i = 3): LPS x = 10 + 3 = 13, RAS R = -13
    assert annotate.slice_position(geometry, (8, 6, 4), 2, 3) == ("R", pytest.approx(-13.0))
    assert annotate.slice_caption(geometry, (8, 6, 4), 0, 5) == "axial slice 5 of 8, S -20.0 mm"
    assert annotate.slice_caption(None, (8, 6, 4), 0, 5) == "slice 5 of 8"


def test_titles_round_trip_through_a_heatmap_file(tmp_path):
    heat = annotate.tag_heatmap(sitk.Image(3, 3, 3, sitk.sitkFloat32), "gradcam++", "lesion", 0.98765)
    sitk.WriteImage(heat, str(tmp_path / "h.nrrd"))
    back = sitk.ReadImage(str(tmp_path / "h.nrrd"))
    assert annotate.title_from_heatmap(back) == 'Grad-CAM++ of class "lesion" (score 0.988)'
    assert annotate.title_from_heatmap(sitk.Image(3, 3, 3, sitk.sitkFloat32)) is None


def test_outline_is_the_region_boundary_at_the_zoom():
    mask = np.zeros((6, 6), bool)
    mask[2:4, 1:5] = True  # rows 2-3, columns 1-4
    ring = annotate.outline(mask, 3, 3, width=1)
    assert ring.shape == (18, 18)
    rows, cols = np.nonzero(ring)
    assert rows.min() == 6 and rows.max() == 11 and cols.min() == 3 and cols.max() == 14
    assert not ring[7:11, 4:14].any()  # the inside stays clear
    assert ring[6, 3:15].all() and ring[11, 3:15].all() and ring[6:12, 3].all() and ring[6:12, 14].all()
