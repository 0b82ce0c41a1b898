"""The panel's words after Compare methods: which map to believe first, which not to believe at all."""

from SaliencyExplorerLib.mrml import panel


def _row(method, rank, score, flagged=False):
    return {"method": method, "rank": rank, "faithfulness_score": score, "sanity_flagged": flagged}


def test_summary_names_the_best_trusted_method_and_the_flagged_ones():
    rows = [
        _row("occlusion", 1, 0.864),
        _row("gradcam", 2, 0.61),
        _row("image", 3, 0.9, flagged=True),
        {"method": "rise", "rank": None, "faithfulness_score": None, "error": "out of memory"},
    ]
    assert panel.comparison_summary(rows) == (
        "Most faithful: occlusion (score 0.86); flagged by the sanity check (do not trust): image; failed: rise."
    )


def test_summary_says_when_every_map_fails_the_sanity_check():
    rows = [_row("smoothgrad", 1, 0.4, flagged=True), _row("saliency", 2, 0.2, flagged=True)]
    text = panel.comparison_summary(rows)
    assert text.startswith("Most faithful: smoothgrad (score 0.40)") and "none explains this model" in text
    assert panel.comparison_summary([{"method": "a", "rank": None}]).startswith("No method could be evaluated")


def test_comparison_options_are_the_panel_settings_and_the_region():
    checks, region = panel.comparison_options(None)
    assert checks == panel.PANEL_COMPARISON and checks is not panel.PANEL_COMPARISON and region is None
