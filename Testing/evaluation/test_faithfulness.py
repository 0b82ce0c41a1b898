"""Deletion/insertion on a model whose score is the mean intensity inside a known box (analytic truth).

The blurred replacement itself: ``test_replacement.py``. ``BoxMean`` and ``box_case``:
``helpers/evaluation_models.py``.
"""

import numpy as np
import pytest
import torch
from helpers.evaluation_models import box_case
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import deletion_curve, faithfulness, insertion_curve
from torch import nn


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


@pytest.mark.parametrize(
    "shape,box", [((16, 16), (slice(3, 7), slice(9, 13))), ((8, 10, 12), (slice(1, 3), slice(2, 6), slice(4, 8)))]
)
def test_true_map_beats_random_and_matches_the_analytic_curve(shape, box):
    model, x, true_map = box_case(shape, box)
    res = faithfulness(model, x, true_map, steps=int(np.prod(shape)) // 4, random_repeats=3, seed=1)
    assert res.auc("deletion") < res.auc("random_deletion") - 0.05
    assert res.auc("insertion") > res.auc("random_insertion") + 0.05
    # Deleting box voxels (all 1.0) with 0 first: score after m of B removed is sigmoid(1 - m/B).
    n, b = true_map.size, int(true_map.sum())
    counts = np.round(res.fractions * n)
    expected = sigmoid(1.0 - np.minimum(counts, b) / b)
    np.testing.assert_allclose(res.deletion[0], expected, atol=1e-6)
    # Inserting onto 0: score after m box voxels revealed is sigmoid(m/B).
    np.testing.assert_allclose(res.insertion[0], sigmoid(np.minimum(counts, b) / b), atol=1e-6)


def test_curves_are_monotone_for_true_and_random_orderings():
    model, x, true_map = box_case((12, 12), (slice(2, 6), slice(2, 6)))
    noisy = true_map + np.random.default_rng(3).random(true_map.shape)  # an imperfect map
    res = faithfulness(model, x, noisy, steps=36, random_repeats=2)
    for curve in (res.deletion, res.random_deletion):
        assert np.all(np.diff(curve[0]) <= 1e-7)  # non-negative voxels replaced by 0: never rises
    for curve in (res.insertion, res.random_insertion):
        assert np.all(np.diff(curve[0]) >= -1e-7)
    assert res.fractions[0] == 0 and res.fractions[-1] == 1
    assert res.deletion[0, 0] == pytest.approx(float(torch.sigmoid(model(x).detach())[0, 0]))
    assert res.deletion[0, -1] == pytest.approx(0.5)  # everything removed: sigmoid(0)


def test_batch_size_does_not_change_areas_and_step_count_only_by_rounding():
    model, x, true_map = box_case((10, 10, 10), (slice(2, 5), slice(3, 7), slice(1, 6)))
    noisy = true_map + 0.5 * np.random.default_rng(0).random(true_map.shape)
    calls = []
    ref = faithfulness(
        model,
        x,
        noisy,
        steps=40,
        batch_size=64,
        random_repeats=2,
        seed=5,
        progress=lambda done, total: calls.append((done, total)),
    ).to_dict()
    assert calls == [(k, 6) for k in range(1, 7)]  # 2 curves x (1 + 2 random) x 1 batch of 41
    for batch_size in (1, 7):
        other = faithfulness(model, x, noisy, steps=40, batch_size=batch_size, random_repeats=2, seed=5).to_dict()
        for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
            assert other[key] == pytest.approx(ref[key], abs=1e-6)
    fine = faithfulness(model, x, noisy, steps=200, random_repeats=2, seed=5).to_dict()
    for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
        assert fine[key] == pytest.approx(ref[key], abs=0.01)


def test_batches_of_samples_use_each_samples_own_map():
    box = (slice(0, 4), slice(0, 4))
    model, x1, true_map = box_case((8, 8), box, seed=1)
    _, x2, _ = box_case((8, 8), box, seed=2)
    x = torch.cat([x1, x2])
    wrong = 1.0 - true_map
    fr, both = deletion_curve(model, x, np.stack([true_map, wrong]), steps=16)
    _, first = deletion_curve(model, x1, true_map, steps=16)
    np.testing.assert_allclose(both[0], first[0], atol=1e-6)
    assert both[1, 4] == pytest.approx(sigmoid(1.0), abs=1e-6)  # the wrong map removes no box voxel first


def test_multiclass_target_uses_softmax_probability_of_the_chosen_class():
    class Two(nn.Module):
        def forward(self, x):
            m = x[:, 0, :4, :4].flatten(1).mean(1)
            return torch.stack([m, -m], dim=1)

    _, x, true_map = box_case((8, 8), (slice(0, 4), slice(0, 4)))
    fr, scores = insertion_curve(Two(), x, true_map, target=1, steps=4, replacement=0.0)
    expected = torch.softmax(torch.tensor([[0.0, 0.0]]), 1)[0, 1]
    assert scores[0, 0] == pytest.approx(float(expected))
    assert scores[0, -1] == pytest.approx(float(torch.softmax(Two()(x), 1)[0, 1]), abs=1e-6)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"replacement": "zeros"}, "replacement"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, needle):
    model, x, true_map = box_case((8, 8), (slice(0, 4), slice(0, 4)))
    with pytest.raises(SaliencyError, match=needle):
        faithfulness(model, x, true_map, **kwargs)


def test_wrong_map_shape_and_bad_input_are_clear_errors():
    model, x, true_map = box_case((8, 8), (slice(0, 4), slice(0, 4)))
    with pytest.raises(SaliencyError, match=r"shape \(4, 4\).*\(1, 8, 8\)"):
        faithfulness(model, x, np.ones((4, 4)))
    with pytest.raises(SaliencyError, match="NaN"):
        faithfulness(model, x, np.full((8, 8), np.nan))
    with pytest.raises(SaliencyError, match="N, C"):
        faithfulness(model, x[0, 0], true_map)


def test_segmentation_target_scores_the_mean_probability_in_the_region():
    class Seg(nn.Module):
        """Two-class per-pixel logits: class 1 = the pixel's intensity, class 0 = its negative."""

        def forward(self, x):
            return torch.cat([-x[:, :1], x[:, :1]], dim=1) * 4

    _, x, true_map = box_case((10, 10), (slice(2, 6), slice(2, 6)))
    region = torch.from_numpy(true_map > 0)[None]
    res = faithfulness(Seg(), x, true_map, target=1, task="segmentation", mask=region, steps=25, random_repeats=2)
    assert res.auc("deletion") < res.auc("random_deletion") - 0.1
    # all removed (0): every pixel's softmax is 0.5; intact: box pixels are 1.0 -> softmax(8, -8)
    assert res.deletion[0, -1] == pytest.approx(0.5)
    assert res.deletion[0, 0] == pytest.approx(float(torch.softmax(torch.tensor([-4.0, 4.0]) * 1.0, 0)[1]), abs=1e-6)


def test_cancel_stops_between_batches():
    import threading

    from SaliencyExplorerLib.errors import ExplanationCancelled

    model, x, true_map = box_case((8, 8), (slice(0, 4), slice(0, 4)))
    stop, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            stop.set()

    with pytest.raises(ExplanationCancelled):
        faithfulness(model, x, true_map, steps=16, batch_size=4, progress=progress, cancel=stop)
    assert seen == [1, 2]


def test_more_steps_than_voxels_is_said_not_silent():
    """10 voxels cannot be removed in 50 steps: one step per voxel is used, and a warning says so."""
    from SaliencyExplorerLib.evaluation.faithfulness import step_counts

    with pytest.warns(UserWarning, match="steps 50 is more than the 10 voxels"):
        counts = step_counts(10, 50)
    assert counts.tolist() == list(range(11))
    assert step_counts(10, 5).tolist() == [0, 2, 4, 6, 8, 10]
