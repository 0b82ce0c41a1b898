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
    curves = {"fraction": fraction, "random_deletion": [1, .8, .6, .4, .2], "random_insertion": [0, .2, .4, .6, .8],
              "methods": {m: {"deletion": [1, .5, .3, .2, .1], "insertion": [0, .6, .8, .9, 1]} for m in maps}}
    rows = [{"method": "gradcam", "rank": 1, "faithfulness_score": 0.5, "sanity_flagged": False},
            {"method": "saliency", "rank": 2, "faithfulness_score": 0.1, "sanity_flagged": True}]
    fig = comparison_figure(image, maps, curves, rows)
    titled = [a.get_title() for a in fig.axes if a.get_title()]
    assert any("gradcam" in t for t in titled) and any("saliency" in t for t in titled)
    path = save_figure(tmp_path / "comparison.png", fig)
    with Image.open(path) as picture:
        assert picture.size[0] > 300 and picture.size[1] > 150
    with pytest.raises(SaliencyError, match="does not exist"):
        save_figure(tmp_path / "missing" / "x.png", fig)


def test_cohort_figure_draws_means_with_their_intervals(tmp_path):
    summary = [{"method": "gradcam", "deletion_auc": 0.2, "deletion_auc_ci_low": 0.1, "deletion_auc_ci_high": 0.3,
                "insertion_auc": 0.8, "insertion_auc_ci_low": 0.7, "insertion_auc_ci_high": 0.9},
               {"method": "saliency", "deletion_auc": 0.4, "deletion_auc_ci_low": 0.3, "deletion_auc_ci_high": 0.5,
                "insertion_auc": 0.6, "insertion_auc_ci_low": 0.5, "insertion_auc_ci_high": 0.7}]
    fig = cohort_figure(summary)
    assert len(fig.axes) >= 2
    heights = sorted(round(p.get_height(), 6) for a in fig.axes for p in a.patches)
    assert {0.2, 0.4, 0.6, 0.8} <= set(heights)
    assert save_figure(tmp_path / "summary.png", fig).endswith("summary.png")
