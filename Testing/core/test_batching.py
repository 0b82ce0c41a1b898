"""Every many-pass method: progress reaches its known total exactly once; cancel stops within one batch."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from SaliencyExplorerLib import ExplanationCancelled, explain


class RowCounter(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv3d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                                 nn.Linear(3, 2))
        self.rows = 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.net(x)


CASES = [
    ("smoothgrad", {"samples": 6}, 6),
    ("integrated-gradients", {"steps": 7}, 7),
    ("occlusion", {"window": 4, "stride": 2}, 3 * 4 * 2),
    ("occlusion", {"window": 4, "stride": 2, "mode": "fast", "refine": 0.25}, 1 + 6),
    ("rise", {"masks": 9, "cells": 3}, 9),
]
X = torch.randn(1, 1, 8, 10, 6)


@pytest.mark.parametrize("method,options,total", CASES)
def test_progress_reaches_the_known_total_exactly_once(method, options, total):
    calls = []
    res = explain(RowCounter(), X, method, batch_size=4, progress=lambda done, tot: calls.append((done, tot)),
                  **options)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [c for c in calls if c[0] == total] == [(total, total)]
    assert all(t == total for _, t in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    if "evaluations" in res.extras:
        assert res.extras["evaluations"] == total


@pytest.mark.parametrize("method,options,total", CASES)
def test_cancel_stops_within_one_batch(method, options, total):
    model = RowCounter()
    stop = threading.Event()
    seen = []

    def progress(done, tot):
        seen.append(done)
        if done > 0:
            stop.set()  # the user presses Cancel after the first batch

    with pytest.raises(ExplanationCancelled, match="cancelled"):
        explain(model, X, method, batch_size=2, progress=progress, cancel=stop, **options)
    assert seen[-1] <= 2 if "fast" not in options.values() else seen[-1] <= 3
    assert model.rows <= 1 + 2 + 2  # the clean forward (+ gradient probe), then at most one batch of 2


def test_cancel_callable_before_start():
    model = RowCounter()
    with pytest.raises(ExplanationCancelled):
        explain(model, X, "occlusion", window=4, cancel=lambda: True)
    assert model.rows <= 1


def test_rise_finds_the_region_that_drives_the_score():
    class Corner(nn.Module):
        def forward(self, x):
            s = x[:, 0, :4, :4].flatten(1).mean(1) * 4
            return torch.stack([s, -s], 1)

    res = explain(Corner(), torch.ones(1, 1, 16, 16), "rise", masks=400, cells=4, output_activation="none",
                  relu=False)
    inside, outside = res.raw[0, :4, :4].mean(), res.raw[0, 8:, 8:].mean()
    assert inside > outside + 1.0  # masks that keep the corner score higher
    np.testing.assert_allclose(res.extras["per_class"][0, 0], res.raw[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5"])
def test_bad_batch_size_environment_variable_is_a_saliency_error(monkeypatch, value):
    from SaliencyExplorerLib.errors import SaliencyError

    monkeypatch.setenv("SALIENCY_BATCH_SIZE", value)
    with pytest.raises(SaliencyError, match="SALIENCY_BATCH_SIZE"):
        explain(RowCounter(), X, method="rise", masks=4, cells=3)


def test_numpy_integer_batch_size_sets_the_rows_per_pass():
    model = RowCounter()
    counts = []
    model.register_forward_hook(lambda m, i, o: counts.append(i[0].shape[0]))
    explain(model, X, method="rise", masks=6, cells=3, batch_size=np.int64(4))
    assert counts[-2:] == [4, 2]  # 6 masks in batches of 4 (the first pass is the clean input)
