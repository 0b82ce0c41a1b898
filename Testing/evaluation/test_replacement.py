"""What a removed voxel becomes in deletion/insertion: a constant, the input's mean, or a blurred input.

Truth: a blurred impulse is the normalised Gaussian (its centre row by hand) and keeps the total; a
blur-replaced deletion still ranks the true map above a random one on the analytic box model.
"""

import numpy as np
import pytest
import torch
from helpers.evaluation_models import box_case
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import faithfulness
from SaliencyExplorerLib.evaluation.replacement import gaussian_blur, replacement_image


def test_blur_replacement_preserves_mean_and_smooths():
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    blurred = gaussian_blur(x, 2.0)
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-5)
    assert blurred[0, 0].argmax() == 10 * 21 + 10
    row = blurred[0, 0, 10].numpy()
    g = np.exp(-0.5 * ((np.arange(21) - 10) / 2.0) ** 2)
    np.testing.assert_allclose(row / row.max(), g / g.max(), atol=1e-3)  # separable: centre row is a Gaussian
    model, xb, true_map = box_case((12, 12), (slice(2, 6), slice(2, 6)))
    res = faithfulness(model, xb, true_map, steps=12, replacement="blur", blur_sigma=1.5, random_repeats=1)
    assert res.auc("deletion") < res.auc("random_deletion")
    assert res.settings["replacement"] == "blur"


def test_constant_and_mean_replacements():
    x = torch.arange(2 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)  # samples 0..5 and 6..11
    assert torch.equal(replacement_image(x, 0.25), torch.full_like(x, 0.25))
    mean = replacement_image(x, "mean")
    assert mean.shape == x.shape and mean[0].unique().tolist() == [2.5] and mean[1].unique().tolist() == [8.5]


def test_blur_in_one_and_three_dimensions_keeps_a_constant_and_the_total():
    flat = torch.full((1, 2, 6, 7, 8), 4.0)
    torch.testing.assert_close(gaussian_blur(flat, 1.5), flat)  # edges replicated
    line = torch.zeros(1, 1, 31)
    line[0, 0, 15] = 1.0
    blurred = gaussian_blur(line, 2.0)[0, 0]
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(blurred[15]) == pytest.approx(1 / np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2).sum(), rel=1e-5)
    # the default sigma is min(spatial) / 16 (31 / 16 here), at least 1 voxel (for an 8-voxel row)
    torch.testing.assert_close(replacement_image(line, "blur"), gaussian_blur(line, 31 / 16))
    short = line[..., 11:19]
    torch.testing.assert_close(replacement_image(short, "blur"), gaussian_blur(short, 1.0))


@pytest.mark.parametrize(
    "replacement,sigma,needle",
    [
        ("noise", None, "replacement must be"),
        (True, None, "replacement must be"),
        ("blur", 0.0, "blur_sigma must be > 0"),
    ],
)
def test_bad_replacements_are_refused(replacement, sigma, needle):
    with pytest.raises(SaliencyError, match=needle):
        replacement_image(torch.zeros(1, 1, 4, 4), replacement, blur_sigma=sigma)
