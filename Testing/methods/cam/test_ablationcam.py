"""Ablation-CAM: a channel's weight is the relative drop of the target score when that channel is zeroed.

Truth: on PatternNet (global average pooling + linear) zeroing channel c removes exactly
W[k, c] * mean(A_c) from logit k, so every weight has a closed form; the zeroing itself is checked
element by element, for feature maps and for transformer tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.cam_closed_form import assert_close, channel_sum, make_input
from helpers.engine_models import FC_BIAS, FC_WEIGHT, PatternNet, numpy_pattern_activations
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.methods.cam.ablationcam import _zero_channels


@pytest.mark.parametrize("dims", [2, 3])
def test_ablationcam_weights_are_relative_score_drops(dims):
    """Zeroing channel c removes W[k, c] * mean(A_c) from the logit: weight = that / |y_k|."""
    x = make_input(dims, seed=4)
    a = numpy_pattern_activations(x[0].numpy())
    means = a.reshape(4, -1).mean(1)
    logits = FC_WEIGHT @ means + FC_BIAS
    model = PatternNet(dims, "mean")
    for klass in (0, 2):
        weights = FC_WEIGHT[klass] * means / abs(logits[klass])
        res = explain(model, x, "ablationcam", layers="features", target=klass, batch_size=3)
        assert_close(res.raw[0], np.maximum(channel_sum(weights, a), 0), rtol=1e-4)


def test_each_row_loses_exactly_its_own_channel():
    value = torch.arange(3 * 4 * 2 * 2, dtype=torch.float32).reshape(3, 4, 2, 2) + 1  # no zero anywhere
    out = _zero_channels(value, torch.tensor([0, 3, 1]), spatial_dims=2)
    zeroed = (out == 0).all(dim=(2, 3))  # (rows, channels): which channel map is all zero
    assert zeroed.tolist() == [[True, False, False, False], [False, False, False, True], [False, True, False, False]]
    keep = ~zeroed
    assert torch.equal(out[keep], value[keep])  # every other channel untouched
    assert bool((value > 0).all())  # the caller's tensor is not modified


def test_transformer_tokens_lose_their_last_axis_channel():
    value = torch.ones(2, 5, 3)  # (N, tokens, C)
    out = _zero_channels(value, torch.tensor([2, 0]), spatial_dims=2)
    assert out[0, :, 2].abs().sum() == 0 and out[0, :, :2].eq(1).all()
    assert out[1, :, 0].abs().sum() == 0 and out[1, :, 1:].eq(1).all()


def test_a_negative_target_logit_does_not_flip_the_map():
    """Dividing by |y_k| keeps the sign of each drop: on a class whose logit is negative the channel whose
    removal lowers the logit most still weighs most."""
    x = make_input(2, seed=9)
    a = numpy_pattern_activations(x[0].numpy())
    means = a.reshape(4, -1).mean(1)
    logits = FC_WEIGHT @ means + FC_BIAS
    klass = int(np.argmin(logits))
    assert logits[klass] < 0  # the case exercises a negative logit
    res = explain(PatternNet(2, "mean"), x, "ablationcam", layers="features", target=klass, relu=False)
    weights = FC_WEIGHT[klass] * means / abs(logits[klass])
    assert_close(res.raw[0], channel_sum(weights, a), rtol=1e-4)
