"""PerturbedCamMethod, shared by Score-CAM and Ablation-CAM: which channels are evaluated (all, or the
`max_channels` most active), one model run per chosen channel counted by the progress, several layers
combined as every CAM combines them.

Truth: channel means of a hand-made activation; on PatternNet the Ablation-CAM weight of each channel
has a closed form, so restricting the channels must zero exactly the weights of the others.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.cam_closed_form import assert_close, channel_sum, make_input
from helpers.engine_models import FC_BIAS, FC_WEIGHT, PatternNet, numpy_pattern_activations
from helpers.numerics import close, minmax
from SaliencyExplorerLib import SaliencyError, explain
from SaliencyExplorerLib.methods.cam.perturbed_base import chosen_channels


def test_chosen_channels_are_the_most_active_in_channel_order():
    # channel means: 0.1, 5, 2, 3 -> the two most active are 1 and 3, returned in channel order
    activation = torch.tensor([0.1, 5.0, 2.0, 3.0]).reshape(4, 1, 1) * torch.ones(4, 2, 3)
    assert chosen_channels(activation, 2).tolist() == [1, 3]
    assert chosen_channels(activation, 3).tolist() == [1, 2, 3]
    assert chosen_channels(activation, None).tolist() == [0, 1, 2, 3]
    assert chosen_channels(activation, 9).tolist() == [0, 1, 2, 3]  # more than there are: all


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_max_channels_must_be_a_positive_integer(bad):
    with pytest.raises(SaliencyError, match="max_channels"):
        chosen_channels(torch.ones(4, 2, 2), bad)


def test_channels_left_out_get_weight_zero():
    x = make_input(2, seed=4)
    a = numpy_pattern_activations(x[0].numpy())
    means = a.reshape(4, -1).mean(1)
    logits = FC_WEIGHT @ means + FC_BIAS
    kept = np.sort(np.argsort(means)[-2:])  # the two channels with the largest mean activation
    weights = np.zeros(4)
    weights[kept] = FC_WEIGHT[0, kept] * means[kept] / abs(logits[0])
    res = explain(PatternNet(2, "mean"), x, "ablationcam", layers="features", target=0, max_channels=2, relu=False)
    assert_close(res.raw[0], channel_sum(weights, a), rtol=1e-4)
    everything = explain(PatternNet(2, "mean"), x, "ablationcam", layers="features", target=0, relu=False)
    assert not np.allclose(everything.raw, res.raw, atol=1e-3 * float(np.abs(res.raw).max()))


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
@pytest.mark.parametrize("max_channels,total", [(None, 2 * 4), (3, 2 * 3)])
def test_progress_counts_one_run_per_chosen_channel_and_sample(method, max_channels, total):
    x = torch.cat([make_input(2, seed=1), make_input(2, seed=2)])
    calls = []
    explain(
        PatternNet(2, "mean"),
        x,
        method,
        layers="features",
        max_channels=max_channels,
        batch_size=2,
        progress=lambda done, tot: calls.append((done, tot)),
    )
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
def test_several_layers_average_their_normalised_maps(method):
    """As for every CAM (and as the peers allow): each layer weighed on its own (Ablation-CAM zeroes only the
    layer being weighed), rectified, scaled to [0, 1], averaged. Both layers keep the input's size, so the
    truth from single-layer runs is exact."""
    model, x = PatternNet(2, "mean"), make_input(2)
    names = ["features", "features.0"]
    both = explain(model, x, method, layers=names, target=[1])
    assert both.layers == names
    singles = [explain(model, x, method, layers=n, target=[1]).raw for n in names]
    expected = np.mean([minmax(s[0]) for s in singles], 0)
    close(both.raw[0], expected)
