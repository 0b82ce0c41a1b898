"""Single-pass input gradients: vanilla saliency (|gradient|, max over channels) and input x gradient.

Truth: the target score's gradient computed directly with torch.autograd on the same model.
"""

import numpy as np
from helpers.gradient_models import autograd_gradient
from SaliencyExplorerLib import explain


def test_saliency_is_autograd_gradient_of_target_score(model, x):
    res = explain(model, x, "saliency", target=2)
    grad = autograd_gradient(model, x, 2)
    np.testing.assert_allclose(res.extras["attributions"], grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.raw, np.abs(grad).max(1), rtol=1e-5, atol=1e-7)
    assert res.passes == {"forward": 2, "backward": 2, "tail": 0}  # one batched forward + backward, no probe
    assert all(p.grad is None for p in model.parameters())  # no parameter gradients left behind


def test_input_x_gradient(model, x):
    res = explain(model, x, "inputxgradient", target=0, relu=False)
    expected = x.numpy() * autograd_gradient(model, x, 0)
    np.testing.assert_allclose(res.extras["attributions"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.raw, expected.sum(1), rtol=1e-5, atol=1e-6)
