"""Slice views rendered by Slicer's own slice logic (no OpenGL): heatmap colours on the lesion, none far away."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.slicer_scene import LESION_LPS, LESION_RADIUS_MM, lesion_heatmap, phantom_node
from SaliencyExplorerLib.mrml import color_tables, heatmap_node, rendering

LESION_RAS = np.array(LESION_LPS) * [-1, -1, 1]
OPACITY = 0.6


def _pixel_ras(shape, xy_to_ras):
    h, w = shape[:2]
    rows, cols = np.mgrid[0:h, 0:w]
    xy = np.stack([cols, h - 1 - rows, np.zeros_like(rows), np.ones_like(rows)], axis=-1).astype(float)
    return (xy @ xy_to_ras.T)[..., :3]


@pytest.mark.parametrize("orientation", ["Axial", "Coronal"])
def test_heatmap_colours_over_the_lesion_and_none_far_away(mrml, tmp_path, orientation):
    source, image, mask = phantom_node(mrml)
    heat, _ = lesion_heatmap(image, mask, sigma_mm=4.0)
    out = heatmap_node.write_heatmap(source, heat, threshold=0.2)
    n_nodes = mrml.scene.GetNumberOfNodes()
    png = tmp_path / "view.png"
    kwargs = dict(orientation=orientation, center_ras=LESION_RAS, size=(200, 200))
    with_heat, xy_to_ras = rendering.render_slice_geometry(source, out, opacity=OPACITY, path=png, **kwargs)
    plain, same = rendering.render_slice_geometry(source, None, **kwargs)
    assert np.array_equal(xy_to_ras, same) and png.stat().st_size > 1000
    assert mrml.scene.GetNumberOfNodes() == n_nodes  # the render's own nodes are gone

    changed = np.abs(with_heat[..., :3].astype(int) - plain[..., :3].astype(int)).max(axis=-1) > 3
    distance = np.linalg.norm(_pixel_ras(with_heat.shape, xy_to_ras) - LESION_RAS, axis=-1)
    near, far = distance < 3.0, distance > 3 * LESION_RADIUS_MM
    assert near.sum() > 10 and far.sum() > 1000
    assert changed[near].mean() > 0.95  # the lesion is covered by the overlay
    assert not changed[far].any()  # nothing far from it

    # the overlay's colours are Inferno's: undo the blend and find each pixel's colour in the table
    fg = (with_heat[..., :3].astype(float) - (1 - OPACITY) * plain[..., :3]) / OPACITY / 255.0
    table = color_tables.table_rgb("Inferno")
    nearest = np.min(np.linalg.norm(fg[changed][:, None, :] - table[None], axis=-1), axis=1)
    assert np.percentile(nearest, 95) < 0.03
    # and bright (high-saliency) colours sit at the centre: the pixel nearest the lesion is yellow-white
    centre = np.unravel_index(np.argmin(distance), distance.shape)
    assert fg[centre][0] > 0.9 and fg[centre][1] > 0.7


def test_scene_is_unchanged_and_bad_orientation_is_refused(mrml):
    source, _, _ = phantom_node(mrml)
    with pytest.raises(ValueError, match="orientation"):
        rendering.render_slice(source, orientation="Oblique")
