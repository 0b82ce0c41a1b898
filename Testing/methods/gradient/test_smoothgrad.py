"""SmoothGrad: gradients averaged over noisy copies of the input.

Truth: without noise every copy is the input, so the average is the autograd gradient (or its square
with magnitude=True); with noise the map changes but a fixed seed reproduces it exactly.
"""

import numpy as np
from helpers.gradient_models import autograd_gradient
from SaliencyExplorerLib import explain


def test_smoothgrad_without_noise_is_the_gradient(model, x):
    res = explain(model, x, "smoothgrad", target=1, noise=0.0, samples=3, magnitude=False, batch_size=4)
    np.testing.assert_allclose(res.extras["attributions"], autograd_gradient(model, x, 1), rtol=1e-5, atol=1e-7)
    squared = explain(model, x, "smoothgrad", target=1, noise=0.0, samples=2, magnitude=True)
    np.testing.assert_allclose(
        squared.extras["attributions"], autograd_gradient(model, x, 1) ** 2, rtol=1e-4, atol=1e-10
    )


def test_smoothgrad_noise_changes_the_map_reproducibly(model, x):
    a = explain(model, x, "smoothgrad", samples=4, noise=0.3)
    b = explain(model, x, "smoothgrad", samples=4, noise=0.3)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.allclose(a.extras["attributions"], autograd_gradient(model, x, a.target[0]) ** 2)
