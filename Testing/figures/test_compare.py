"""figures.compare: every method's map over the same slice and their curves; the cohort's bars with intervals."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.figures.compare import cohort_figure, comparison_figure, save_figure  # noqa: E402


def test_comparison_figure_has_one_panel_per_method_plus_the_curves(tmp_path):
    image = np.random.default_rng(0).normal(size=(6, 20, 24)).astype(np.float32)
    maps = {"gradcam": np.zeros_like(image), "saliency": np.ones_like(image)}
    maps["gradcam"][3, 5:10, 6:12] = 1.0
    fraction = list(np.linspace(0, 1, 5))
    curves = {
        "fraction": fraction,
        "random_deletion": [1, 0.8, 0.6, 0.4, 0.2],
        "random_insertion": [0, 0.2, 0.4, 0.6, 0.8],
        "methods": {m: {"deletion": [1, 0.5, 0.3, 0.2, 0.1], "insertion": [0, 0.6, 0.8, 0.9, 1]} for m in maps},
    }
    rows = [
        {"method": "gradcam", "rank": 1, "faithfulness_score": 0.5, "sanity_flagged": False},
        {"method": "saliency", "rank": 2, "faithfulness_score": 0.1, "sanity_flagged": True},
    ]
    fig = comparison_figure(image, maps, curves, rows)
    titled = [a.get_title() for a in fig.axes if a.get_title()]
    assert any("gradcam" in t for t in titled) and any("saliency" in t for t in titled)
    path = save_figure(tmp_path / "comparison.png", fig)
    with Image.open(path) as picture:
        assert picture.size[0] > 300 and picture.size[1] > 150
    with pytest.raises(SaliencyError, match="does not exist"):
        save_figure(tmp_path / "missing" / "x.png", fig)


def test_cohort_figure_draws_means_with_their_intervals(tmp_path):
    summary = [
        {
            "method": "gradcam",
            "deletion_auc": 0.2,
            "deletion_auc_ci_low": 0.1,
            "deletion_auc_ci_high": 0.3,
            "insertion_auc": 0.8,
            "insertion_auc_ci_low": 0.7,
            "insertion_auc_ci_high": 0.9,
        },
        {
            "method": "saliency",
            "deletion_auc": 0.4,
            "deletion_auc_ci_low": 0.3,
            "deletion_auc_ci_high": 0.5,
            "insertion_auc": 0.6,
            "insertion_auc_ci_low": 0.5,
            "insertion_auc_ci_high": 0.7,
        },
    ]
    fig = cohort_figure(summary)
    assert len(fig.axes) >= 2
    heights = sorted(round(p.get_height(), 6) for a in fig.axes for p in a.patches)
    assert {0.2, 0.4, 0.6, 0.8} <= set(heights)
    assert save_figure(tmp_path / "summary.png", fig).endswith("summary.png")


def test_comparison_curves_stay_apart_with_a_legend_outside_and_a_colour_bar():
    from SaliencyExplorerLib.figures.annotate import COLORBAR_LABEL, Geometry

    image = np.zeros((6, 20, 24), np.float32)
    names = ["gradcam", "hirescam", "layercam", "saliency", "occlusion"]
    maps = {m: np.zeros_like(image) for m in names}
    for m in maps.values():
        m[3, 5:10, 6:12] = 1.0
    region = np.zeros(image.shape, bool)
    region[:, 4:11, 5:13] = True
    same = {
        "deletion": [1, 0.5, 0.3, 0.2, 0.1],
        "insertion": [0, 0.6, 0.8, 0.9, 1],
    }  # identical curves: must stay visible
    curves = {
        "fraction": list(np.linspace(0, 1, 5)),
        "random_deletion": [1, 0.8, 0.6, 0.4, 0.2],
        "random_insertion": [0, 0.2, 0.4, 0.6, 0.8],
        **{m: same for m in names},
    }
    rows = [{"method": m, "rank": n + 1, "faithfulness_score": 0.5} for n, m in enumerate(names)]
    geometry = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 2.0), (1, 0, 0, 0, 1, 0, 0, 0, -1))
    fig = comparison_figure(image, maps, curves, rows, region=region, geometry=geometry, target="lesion")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    curve_axes = [a for a in fig.axes if a.get_lines()]
    assert len(curve_axes) == 2
    for ax in curve_axes:
        styles = {(line.get_linestyle(), line.get_marker()) for line in ax.get_lines() if line.get_label() in names}
        assert len(styles) == len(names)  # every method its own line style + marker pair
    legend = curve_axes[1].get_legend()
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= curve_axes[1].get_window_extent(renderer).x1  # outside
    labels = [a.get_ylabel() for a in fig.axes]
    assert COLORBAR_LABEL in labels  # the colour bar says what its colours mean
    assert 'class "lesion"' in fig._suptitle.get_text() and "mm" in fig._suptitle.get_text()
    texts = {t.get_text() for a in fig.axes for t in a.texts}
    assert {"A", "P", "R", "L"} <= texts  # orientation letters on the maps
