"""CamMethod, the shape every CAM shares: channels weighed and summed, eigen_smooth, several layers.

A bright blob planted off-centre in non-cubic inputs: every CAM method's peak must land on it. The
shapes (24x32x40, 40x56) have distinct axis lengths and the blob sits at a different fraction of each
axis, so any axis swap, transposed reshape or flipped upsampling moves the peak off the blob.
eigen_smooth is recomputed in numpy (SVD); several layers against single-layer runs; the first
principal component of rank-one activations is known in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.engine_models import FC_WEIGHT, BlobNet, PatternNet, SmallCNN, blob_image, numpy_pattern_activations
from helpers.numerics import close, minmax
from SaliencyExplorerLib import available_methods, explain
from SaliencyExplorerLib.methods.cam.base import first_component, spatial_mean, spatial_sum

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
    expected = {
        "cam",
        "gradcam",
        "gradcam++",
        "xgradcam",
        "hirescam",
        "layercam",
        "eigencam",
        "eigengradcam",
        "scorecam",
        "ablationcam",
    }
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


@pytest.mark.parametrize("dims,shape", [(2, (9, 12)), (3, (5, 6, 7))])
def test_eigen_smooth_is_the_first_principal_component_of_the_weighted_activations(dims, shape):
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(1, 1) + shape).astype(np.float32))
    a = numpy_pattern_activations(x[0].numpy())
    klass = 1
    weighted = (FC_WEIGHT[klass] / a[0].size).reshape((4,) + (1,) * dims) * a  # Grad-CAM's w_c * A_c
    points = weighted.reshape(4, -1).T
    centred = points - points.mean(0)
    _, _, vh = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vh[0]
    reference = points.sum(1)
    if np.dot(projection - projection.mean(), reference - reference.mean()) < 0:
        projection = -projection
    truth = np.maximum(projection, 0).reshape(shape)
    model = PatternNet(dims, "mean")
    res = explain(model, x, "gradcam", layers="features", target=klass, eigen_smooth=True)
    close(res.raw[0], truth, tol=1e-4)
    plain = explain(model, x, "gradcam", layers="features", target=klass)
    assert not np.allclose(plain.heatmap, res.heatmap, atol=1e-2)


@pytest.fixture(scope="module")
def cnn():
    return SmallCNN(dims=2, channels=5, classes=3, seed=7).eval(), torch.randn(2, 1, 14, 18)


def test_several_layers_average_their_normalised_maps(cnn):
    """Truth from single-layer runs: each layer's rectified, upsampled map scaled to [0, 1], averaged."""
    model, x = cnn
    names = ["features.1", "features.4"]
    both = explain(model, x, "gradcam", layers=names, target=[1, 1])
    assert both.layers == names
    singles = [explain(model, x, "gradcam", layers=n, target=[1, 1]).raw for n in names]
    expected = np.stack([np.mean([minmax(s[i]) for s in singles], 0) for i in range(2)])
    close(both.raw, expected)
    assert not np.allclose(minmax(singles[0][0]), minmax(singles[1][0]), atol=1e-2)


@pytest.mark.parametrize("w", [[0.5, 1.0, -0.2], [-0.5, -1.0, 0.2]])
def test_first_component_of_rank_one_activations_is_the_centred_pattern(w):
    """Channels c = w_c * v: the centred points are (v - mean v) w^T, so the first component projects each
    position onto w / |w|, giving |w| (v - mean v); its sign follows the channel sum sum(w) * v."""
    v = torch.tensor([[0.0, 1.0, 3.0], [2.0, -1.0, 5.0]], dtype=torch.float64)  # a 2 x 3 grid
    weighted = torch.tensor(w, dtype=torch.float64).reshape(1, 3, 1, 1) * v  # (N=1, C=3, 2, 3)
    out = first_component(weighted)
    assert out.shape == (1, 2, 3)
    truth = np.sign(sum(w)) * np.linalg.norm(w) * (v - v.mean()).numpy()
    np.testing.assert_allclose(out[0].numpy(), truth, rtol=1e-6, atol=1e-6)


def test_spatial_mean_and_sum_broadcast_per_sample_and_channel():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    mean, total = spatial_mean(t), spatial_sum(t)
    assert mean.shape == total.shape == (2, 3, 1, 1)
    assert float(mean[1, 2, 0, 0]) == pytest.approx(float(t[1, 2].mean()))
    # channel (1, 2) holds 100..119 (20 values): sum 2190, mean 109.5
    assert float(total[1, 2, 0, 0]) == 2190.0 and float(mean[1, 2, 0, 0]) == 109.5
    assert (mean * t).shape == t.shape
