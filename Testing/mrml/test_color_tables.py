"""Colour tables for heatmaps: Slicer's own perceptual tables when the scene has them, an equivalent table
built from the same anchors otherwise, Slicer's procedural tables as they are.

Truth: matplotlib's colour maps (the anchors' source), Slicer's colour files read by the application
logic, and the scene's nodes.
"""

from __future__ import annotations

import numpy as np
import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import color_tables


def test_equivalent_inferno_matches_matplotlib():
    matplotlib = pytest.importorskip("matplotlib")
    ours = color_tables.table_rgb("Inferno")
    truth = matplotlib.colormaps["inferno"](np.linspace(0, 1, 256))[:, :3]
    assert np.abs(ours - truth).max() < 0.03


def test_slicer_inferno_file_node_is_preferred(tmp_path):
    """With Slicer's colour files present (as in the application) their node is used, not ours."""
    from SaliencyExplorerLib.mrml import module_logics

    folder = tmp_path / "share" / "ColorFiles"
    folder.mkdir(parents=True)
    rows = [f"{i} c{i} {i} 0 {255 - i} 255" for i in range(256)]
    (folder / "Inferno.txt").write_text("# test table\n" + "\n".join(rows) + "\n")
    session = module_logics.start_headless(home_dir=str(tmp_path))
    try:
        node_id = color_tables.color_node_id(session.scene, "Inferno")
        assert node_id == "vtkMRMLColorTableNodeFileInferno.txt"
        assert session.scene.GetNodeByID(node_id).GetNumberOfColors() == 256
    finally:
        session.close()


@pytest.mark.parametrize("name", ["Viridis", "Magma", "Plasma"])
def test_every_equivalent_table_matches_matplotlib(name):
    matplotlib = pytest.importorskip("matplotlib")
    ours = color_tables.table_rgb(name, 64)
    assert ours.shape == (64, 3)
    truth = matplotlib.colormaps[name.lower()](np.linspace(0, 1, 64))[:, :3]
    assert np.abs(ours - truth).max() < 0.03


def test_the_table_is_built_once_per_scene_and_holds_the_anchors(mrml):
    first = color_tables.color_node_id(mrml.scene, "Viridis")
    assert color_tables.color_node_id(mrml.scene, "Viridis") == first
    node = mrml.scene.GetNodeByID(first)
    assert node.GetNumberOfColors() == color_tables.TABLE_SIZE
    rgba = [0.0] * 4
    node.GetColor(color_tables.TABLE_SIZE - 1, rgba)
    assert rgba[:3] == pytest.approx(
        list(color_tables.table_rgb("Viridis")[-1]), abs=1 / 255
    )  # the last anchor (8-bit)
    assert color_tables.color_node_id(mrml.scene, "Iron") == "vtkMRMLColorTableNodeIron"  # Slicer's own


def test_unknown_colour_map_names_the_valid_ones(mrml):
    with pytest.raises(SaliencyError, match="unknown colour map 'Jet'.*Inferno.*Iron"):
        color_tables.color_node_id(mrml.scene, "Jet")
