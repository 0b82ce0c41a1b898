"""Comparisons the numeric tests share: closeness relative to the truth's peak, min-max, Pearson r."""

from __future__ import annotations

import numpy as np
import torch


def close(a, b, tol=1e-5):
    """`a` equals `b` within `tol` times the largest magnitude of `b` (maps have arbitrary units)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(float(np.abs(b).max()), 1e-12))


def minmax(a):
    return (a - a.min()) / (a.max() - a.min())


def pearson(a, b) -> float:
    """Pearson correlation of two maps (numpy arrays or tensors); a constant map cannot be compared."""
    a, b = (np.ravel(t.detach().cpu().numpy() if torch.is_tensor(t) else t) for t in (a, b))
    assert a.std() > 0 and b.std() > 0, "a constant map cannot be compared"
    return float(np.corrcoef(a, b)[0, 1])
