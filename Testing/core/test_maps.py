"""Maps brought to the input's size by (bi/tri)linear interpolation and scaled per sample to [0, 1].

Truth: linear interpolation of a linear ramp is the ramp sampled at the output's pixel centres (worked
out by hand, align_corners=False), min-max and magnitude scaling computed by hand.
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.core.maps import normalise, normalise_magnitude, upsample


def test_a_1d_ramp_upsamples_to_the_ramp_at_the_new_pixel_centres():
    ramp = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    # output pixel i sits at input coordinate (i + 0.5) / 2 - 0.5, clamped to [0, 3]
    expected = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]
    assert upsample(ramp, (8,))[0].tolist() == pytest.approx(expected)


@pytest.mark.parametrize("size,out", [((4, 6), (8, 9)), ((3, 4, 5), (6, 8, 7))])
def test_a_linear_field_stays_linear_in_2d_and_3d(size, out):
    def field(shape, scale=(1.0, 1.0, 1.0)):
        axes = [(torch.arange(n, dtype=torch.float64) + 0.5) * f - 0.5 for n, f in zip(shape, scale)]
        grids = torch.meshgrid(*axes, indexing="ij")
        return sum((a + 1) * g for a, g in enumerate(grids))  # 1*x0 + 2*x1 (+ 3*x2)

    maps = field(size).float()[None]
    up = upsample(maps, out)[0].double()
    truth = field(out, [s / o for s, o in zip(size, out)])
    inner = tuple(slice(o // s, o - o // s) for s, o in zip(size, out))  # away from the clamped border
    np.testing.assert_allclose(up[inner].numpy(), truth[inner].numpy(), atol=1e-5)
    assert up.shape == out


def test_same_size_is_returned_as_it_is_and_no_overshoot():
    maps = torch.rand(2, 5, 6)
    assert upsample(maps, (5, 6)) is maps
    step = torch.zeros(1, 4, 4)
    step[:, :, 2:] = 1.0
    up = upsample(step, (16, 16))
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0  # linear, never cubic


def test_normalise_is_per_sample_min_max_and_a_constant_map_is_zero():
    maps = torch.tensor([[1.0, 3.0, 5.0], [-2.0, -2.0, -2.0], [10.0, 0.0, 5.0]])
    out = normalise(maps)
    assert out.tolist() == [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.5]]


def test_normalise_magnitude_keeps_zero_at_zero_and_the_strongest_evidence_at_one():
    maps = torch.tensor([[[-2.0, 0.0], [1.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
    out = normalise_magnitude(maps)
    assert out[0].tolist() == [[1.0, 0.0], [0.5, 0.25]]
    assert out[1].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert normalise(maps)[0, 0, 1].item() == pytest.approx(2 / 3)  # min-max would put zero at 2/3


@pytest.mark.parametrize(
    "shape, size",
    [
        ((1, 2, 2, 2), (64, 64, 64)),
        ((3, 4, 3, 2), (40, 36, 28)),
        ((1, 1, 3), (17, 9)),
        ((2, 4), (30,)),
        ((1, 2, 2, 2), (2, 5, 3)),
    ],
)
def test_small_maps_upsample_as_torch_interpolates(shape, size):
    """The axis-by-axis path for maps a few voxels wide gives F.interpolate's values (float rounding)."""
    import torch.nn.functional as F

    maps = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    ref = F.interpolate(maps.unsqueeze(1), size=size, mode=mode, align_corners=False).squeeze(1)
    got = upsample(maps, size)
    assert got.shape == ref.shape and float((got - ref).abs().max()) < 1e-6
