"""Shared machinery of the CAMs that weigh channels by re-running the model (Score-CAM, Ablation-CAM).

Both evaluate the model once per channel; they do it per sample, in batches sized from free memory,
with progress and cancellation, optionally on only the `max_channels` most active channels.
"""

from __future__ import annotations

import abc

import torch

from ...core.options import positive_int
from .base import CamMethod


def chosen_channels(activation: torch.Tensor, max_channels) -> torch.Tensor:
    """Indices of the channels to evaluate: all, or the `max_channels` with the largest mean activation."""
    channels = activation.shape[0]
    if max_channels is None:
        return torch.arange(channels, device=activation.device)
    if positive_int(max_channels, "max_channels (or None: every channel)") >= channels:
        return torch.arange(channels, device=activation.device)
    return activation.flatten(1).mean(1).topk(max_channels).indices.sort().values


class PerturbedCamMethod(CamMethod):
    """Base: capture activations once, then `channel_weights` per sample from batched model runs
    (so `eigen_smooth` applies to these maps as to every CAM). Several layers are weighed one after the
    other and combined as every CAM combines them."""

    needs_gradients = False
    replays_layer = False  # re-runs the model with modified layers: nothing to gain from the stored outputs
    options = {"max_channels": None}

    @abc.abstractmethod
    def channel_weights(self, run, sample: int, activation, channels, batch_size, progress) -> torch.Tensor:
        """Weights of `channels` of one sample's activation (C, *grid), from batched model runs."""

    def weighted(self, activations, gradients, run):
        n = activations.shape[0]
        picks = [chosen_channels(activations[i], run.options["max_channels"]) for i in range(n)]
        batch_size = run.choose_batch_size(max(len(p) for p in picks))
        progress = run.progress(sum(len(p) for p in picks))
        progress.start()
        weights = torch.zeros(activations.shape[:2], device=activations.device)
        for i in range(n):  # channels not picked keep weight 0
            weights[i, picks[i]] = self.channel_weights(run, i, activations[i], picks[i], batch_size, progress)
        return weights.reshape(*weights.shape, *([1] * (activations.dim() - 2))) * activations

    @staticmethod
    def batches(channels: torch.Tensor, batch_size: int):
        for start in range(0, len(channels), batch_size):
            yield channels[start : start + batch_size]
