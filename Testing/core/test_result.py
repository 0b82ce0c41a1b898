"""The result of an explanation: maps, what was explained and how; `target_scores` reads the explained
class's output per sample.

Truth: scores indexed by hand, and the model's own logits for a real explain() run.
"""

import numpy as np
import torch
from helpers.engine_models import SmallCNN
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.core.result import Explanation


def _result(scores, target):
    n = len(target)
    return Explanation(
        heatmap=np.zeros((n, 2, 2), np.float32),
        raw=np.zeros((n, 2, 2), np.float32),
        target=target,
        scores=np.asarray(scores, dtype=np.float32),
    )


def test_target_scores_by_hand():
    res = _result([[0.1, 0.2, 0.7], [1.0, -2.0, 3.0]], [2, 1])
    assert res.target_scores == [np.float32(0.7), -2.0]
    assert _result([[0.1, 0.2, 0.7], [1.0, -2.0, 3.0]], [0, None]).target_scores == [np.float32(0.1), None]
    assert _result(np.zeros((2, 3, 4, 4)), [1, 1]).target_scores == [None, None]  # segmentation output


def test_defaults_are_fresh_per_result():
    a, b = _result([[1.0, 2.0]], [0]), _result([[1.0, 2.0]], [0])
    a.warnings.append("x")
    a.options["relu"] = True
    assert b.warnings == [] and b.options == {} and b.method == "" and b.seconds == 0.0


def test_an_explanation_reports_the_models_own_scores():
    model = SmallCNN(dims=2, channels=4, classes=3, seed=1).eval()
    x = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    res = explain(model, x, "gradcam", layers="features", target=[2, 0])
    with torch.no_grad():
        logits = model(x).numpy()
    np.testing.assert_allclose(res.scores, logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.target_scores, [logits[0, 2], logits[1, 0]], rtol=1e-5, atol=1e-6)
    assert res.method == "gradcam" and res.layers == ["features"] and res.heatmap.dtype == np.float32
    assert res.passes["forward"] >= 2 and res.passes["backward"] == 2
