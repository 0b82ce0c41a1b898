"""The page's colour legend is the heatmap's own colour table (``mrml.color_tables``), end to end.

The page itself is exercised in a real browser by ``test_app.py``; here the legend's colours are checked
against matplotlib's Inferno (the independent truth the scene's table is built from).
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("trame", reason="trame is needed: pip install SaliencyExplorer[web]")
matplotlib = pytest.importorskip("matplotlib")

from SaliencyExplorerLib.web.page import legend_gradient  # noqa: E402


def test_the_legend_runs_from_inferno_black_to_inferno_yellow():
    stops = [tuple(int(v) for v in m) for m in re.findall(r"rgb\((\d+),(\d+),(\d+)\)", legend_gradient("Inferno"))]
    assert len(stops) == 9
    cmap = matplotlib.colormaps["inferno"]
    for i, stop in enumerate(stops):
        expected = [255 * c for c in cmap(i / 8)[:3]]
        assert max(abs(a - b) for a, b in zip(stop, expected)) < 255 * 0.03
