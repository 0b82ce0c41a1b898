"""Checks every evaluation shares: maps and regions on the input's own grid, or a clear error.

Truth: shapes, dtypes and values of small hand-made arrays; each refusal names the mismatch.
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation.inputs import batch_maps, region_mask, to_numpy


def test_to_numpy_takes_arrays_lists_and_tensors_that_need_grad():
    t = torch.ones(2, 3, requires_grad=True)
    assert isinstance(to_numpy(t, "map"), np.ndarray) and to_numpy(t, "map").shape == (2, 3)
    assert to_numpy([[1, 2]], "map").tolist() == [[1, 2]]

    class NotAnArray:
        def __array__(self, *args, **kwargs):
            raise TypeError("no")

    with pytest.raises(SaliencyError, match="map must be a numpy array or a torch tensor, not NotAnArray"):
        to_numpy(NotAnArray(), "map")


def test_batch_maps_accepts_one_map_for_one_sample_and_checks_the_grid():
    single = np.arange(6, dtype=np.float32).reshape(2, 3)
    maps = batch_maps(single, (2, 3), 1)
    assert maps.shape == (1, 2, 3) and maps.dtype == np.float64 and maps[0, 1, 2] == 5.0
    assert batch_maps(torch.zeros(2, 2, 3), (2, 3), 2).shape == (2, 2, 3)
    with pytest.raises(SaliencyError, match=r"shape \(2, 3\), but the input needs \(2, 2, 3\)"):
        batch_maps(single, (2, 3), 2)  # one map for two samples
    with pytest.raises(SaliencyError, match=r"heatmap has shape \(1, 3, 2\).*Upsample"):
        batch_maps(np.zeros((1, 3, 2)), (2, 3), 1, "heatmap")
    with pytest.raises(SaliencyError, match="NaN or infinite"):
        batch_maps(np.full((2, 3), np.inf), (2, 3), 1)


def test_region_mask_is_nonzero_on_the_same_grid_and_never_empty():
    mask = region_mask(np.array([[0, 2], [0, -1]]), (2, 2))
    assert mask.dtype == bool and mask.tolist() == [[False, True], [False, True]]
    with pytest.raises(SaliencyError, match=r"region has shape \(2, 2\) but the map has \(2, 3\)"):
        region_mask(np.ones((2, 2)), (2, 3))
    with pytest.raises(SaliencyError, match="lesion is empty"):
        region_mask(torch.zeros(2, 2), (2, 2), "lesion")
