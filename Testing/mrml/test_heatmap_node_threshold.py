"""A display threshold that is not a number in [0, 1] is a clear error, before the scene is touched."""

import numpy as np
import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import heatmap_node


@pytest.mark.parametrize("bad", ["high", None, -0.1, 1.5])
def test_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(SaliencyError, match="threshold"):
        heatmap_node.checked_threshold(bad)


@pytest.mark.parametrize("good, value", [("0.3", 0.3), (0, 0.0), (1, 1.0), (np.float32(0.25), 0.25)])
def test_numbers_in_range_pass(good, value):
    assert heatmap_node.checked_threshold(good) == pytest.approx(value)
