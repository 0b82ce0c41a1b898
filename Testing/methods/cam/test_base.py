"""A bright blob planted off-centre in non-cubic inputs: every CAM method's peak must land on it.

The shapes (24x32x40, 40x56) have distinct axis lengths and the blob sits at a different fraction of
each axis, so any axis swap, transposed reshape or flipped upsampling moves the peak off the blob.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.engine_models import BlobNet, blob_image
from SaliencyExplorerLib import available_methods, explain

CASES = {
    "3d": ((24, 32, 40), (6.0, 22.0, 29.0)),
    "2d": ((40, 56), (11.0, 38.0)),
}
RADIUS = 3.0


def peak_distance(heatmap: np.ndarray, centre) -> float:
    peak = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return float(np.linalg.norm(np.subtract(peak, centre)))


def test_every_cam_method_is_registered():
    """The sweep below must cover the whole family the issue names."""
    expected = {"cam", "gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam",
                "eigengradcam", "scorecam", "ablationcam"}
    assert expected <= set(available_methods("cam"))


@pytest.mark.parametrize("eigen_smooth", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_cam_method_peaks_on_the_blob(case, eigen_smooth):
    shape, centre = CASES[case]
    model = BlobNet(len(shape))
    x = blob_image(shape, centre, radius=RADIUS)
    failures = []
    for method in available_methods("cam"):
        res = explain(model, x, method, eigen_smooth=eigen_smooth)  # default layer, top class
        assert res.heatmap.shape == (1, *shape)
        assert res.target == [1], "the model must see the blob (class 1)"
        distance = peak_distance(res.heatmap[0], centre)
        # the whole top of the map lies on the blob, not just one voxel
        top = res.heatmap[0] >= 0.9
        grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
        inside = sum((g - c) ** 2 for g, c in zip(grids, centre)) <= (2 * RADIUS + 2) ** 2
        if distance > RADIUS + 1 or not inside[top].all():
            failures.append(f"{method}: peak {distance:.1f} voxels from the blob")
    assert not failures, failures


@pytest.mark.parametrize("case", sorted(CASES))
def test_blob_moves_the_peak_along_each_axis(case):
    """Moving the blob along one axis moves Grad-CAM's peak along that axis only (per-axis check)."""
    shape, centre = CASES[case]
    model = BlobNet(len(shape))
    for axis in range(len(shape)):
        moved = list(centre)
        moved[axis] = shape[axis] - 1 - centre[axis]
        res = explain(model, blob_image(shape, moved, radius=RADIUS), "gradcam")
        peak = np.unravel_index(int(np.argmax(res.heatmap[0])), shape)
        assert np.allclose(peak, moved, atol=RADIUS), (axis, peak, moved)
