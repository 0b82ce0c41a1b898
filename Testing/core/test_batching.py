"""Batches, progress and cancellation: every many-pass method's progress reaches its known total exactly
once and cancel stops within one batch; batch sizes from the caller, the environment or free memory.

Truth: totals counted by hand per method (windows, masks, steps) and rows counted inside the model; the
batching helpers against hand-worked ranges and sizes.
"""

import threading

import numpy as np
import pytest
import torch
from SaliencyExplorerLib import ExplanationCancelled, SaliencyError, explain
from SaliencyExplorerLib.core.batching import (
    CPU_BATCH_BUDGET,
    Progress,
    auto_batch_size,
    batch_ranges,
    bounded_batch_size,
    is_cancelled,
    resolve_batch_size,
)
from torch import nn


class RowCounter(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv3d(1, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(3, 2)
        )
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
    res = explain(
        RowCounter(), X, method, batch_size=4, progress=lambda done, tot: calls.append((done, tot)), **options
    )
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


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5"])
def test_bad_batch_size_environment_variable_is_a_saliency_error(monkeypatch, value):
    monkeypatch.setenv("SALIENCY_BATCH_SIZE", value)
    with pytest.raises(SaliencyError, match="SALIENCY_BATCH_SIZE"):
        explain(RowCounter(), X, method="rise", masks=4, cells=3)


def test_numpy_integer_batch_size_sets_the_rows_per_pass():
    model = RowCounter()
    counts = []
    model.register_forward_hook(lambda m, i, o: counts.append(i[0].shape[0]))
    explain(model, X, method="rise", masks=6, cells=3, batch_size=np.int64(4))
    assert counts[-2:] == [4, 2]  # 6 masks in batches of 4 (the first pass is the clean input)


def test_cancel_may_be_none_an_event_or_a_callable():
    event = threading.Event()
    assert not is_cancelled(None) and not is_cancelled(event) and not is_cancelled(lambda: False)
    event.set()
    assert is_cancelled(event) and is_cancelled(lambda: True)


def test_batch_ranges_cover_the_total_and_progress_reaches_it_once():
    calls = []
    progress = Progress(lambda done, total: calls.append((done, total)), 10)
    assert list(batch_ranges(10, 4, progress)) == [(0, 4), (4, 8), (8, 10)]
    assert calls == [(0, 10), (4, 10), (8, 10), (10, 10)]
    progress.advance(5)  # a phase that overshoots is clamped: the total is never exceeded
    assert progress.done == 10 and calls[-1] == (10, 10)


def test_cancel_is_checked_after_each_batch_but_not_after_the_last():
    stop = threading.Event()
    progress = Progress(None, 6, cancel=stop)
    ranges = batch_ranges(6, 3, progress)
    assert next(ranges) == (0, 3)
    stop.set()
    with pytest.raises(ExplanationCancelled):
        next(ranges)  # the first batch is counted, then the cancel is seen
    finished = Progress(None, 3, cancel=lambda: finished.done == 3)  # cancelled only once all is done
    assert list(batch_ranges(3, 3, finished)) == [(0, 3)]


def test_batch_sizes_given_by_the_caller_are_checked_and_clipped_to_the_total(monkeypatch):
    monkeypatch.delenv("SALIENCY_BATCH_SIZE", raising=False)
    cpu = torch.device("cpu")
    assert resolve_batch_size(8, 1, cpu, total=5) == 5
    assert resolve_batch_size(np.int32(3), 1, cpu, total=5) == 3
    for bad in (0, -1, 2.0, True):
        with pytest.raises(SaliencyError, match="batch_size must be a positive integer"):
            resolve_batch_size(bad, 1, cpu, total=5)
    monkeypatch.setenv("SALIENCY_BATCH_SIZE", "4")
    assert resolve_batch_size(None, 1, cpu, total=50) == 4
    assert bounded_batch_size(None, 1 << 40, cpu, total=50) == 4  # the environment wins over the memory bound


def test_automatic_batch_sizes_follow_the_memory_bound(monkeypatch):
    monkeypatch.delenv("SALIENCY_BATCH_SIZE", raising=False)
    cpu = torch.device("cpu")
    monkeypatch.setattr("SaliencyExplorerLib.core.batching.available_memory_bytes", lambda device: 4000)
    # a quarter of 4000 bytes free = 1000 bytes: 10 samples of 100 bytes, capped at 32, limited to the total
    assert auto_batch_size(100, cpu) == 10
    assert auto_batch_size(1, cpu) == 32 and auto_batch_size(1, cpu, limit=7) == 7
    assert auto_batch_size(10**9, cpu) == 1  # never below one
    monkeypatch.setattr("SaliencyExplorerLib.core.batching.available_memory_bytes", lambda device: 1 << 40)
    per_sample = CPU_BATCH_BUDGET // 3
    assert bounded_batch_size(None, per_sample, cpu, total=100) == 3  # the CPU budget, not the free memory
    assert resolve_batch_size(None, per_sample, cpu, total=100) == 32
