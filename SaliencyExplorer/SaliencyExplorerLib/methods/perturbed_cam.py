"""Shared machinery of the CAMs that weigh channels by re-running the model (Score-CAM, Ablation-CAM).

Both evaluate the model once per channel; they do it per sample, in batches sized from free memory,
with progress and cancellation, optionally on only the `max_channels` most active channels.
"""

from __future__ import annotations

import math

import torch

from ..errors import SaliencyError
from .cam_base import CamMethod


def chosen_channels(activation: torch.Tensor, max_channels) -> torch.Tensor:
    """Indices of the channels to evaluate: all, or the `max_channels` with the largest mean activation."""
    channels = activation.shape[0]
    if max_channels is None or max_channels >= channels:
        return torch.arange(channels, device=activation.device)
    if not isinstance(max_channels, int) or max_channels < 1:
        raise SaliencyError(f"max_channels must be a positive integer or None; got {max_channels!r}.")
    return activation.flatten(1).mean(1).topk(max_channels).indices.sort().values


class PerturbedCamMethod(CamMethod):
    """Base: capture activations once, then `channel_weights` per sample from batched model runs."""

    needs_gradients = False
    options = {"max_channels": None}

    def channel_weights(self, run, sample: int, activation, channels, batch_size, progress) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def layer_data(self, run):
        return run.activations_and_gradients(need_grad=False)

    def compute(self, run):
        data = self.layer_data(run)
        if len(data) != 1:
            raise SaliencyError(f"{self.name} explains one layer at a time; got {len(data)} layers.")
        _, activations, _ = data[0]
        n = activations.shape[0]
        picks = [chosen_channels(activations[i], run.options["max_channels"]) for i in range(n)]
        total = sum(len(p) for p in picks)
        batch_size = run.choose_batch_size(max(len(p) for p in picks))
        progress = run.progress(total)
        progress.start()
        maps = []
        for i in range(n):
            weights = torch.zeros(activations.shape[1], device=activations.device)
            weights[picks[i]] = self.channel_weights(run, i, activations[i], picks[i], batch_size, progress)
            maps.append((weights.reshape(-1, *([1] * (activations.dim() - 2))) * activations[i]).sum(0))
        return torch.stack(maps)

    @staticmethod
    def batches(channels: torch.Tensor, batch_size: int):
        for start in range(0, len(channels), batch_size):
            yield channels[start:start + batch_size]

    @staticmethod
    def num_batches(channels, batch_size) -> int:
        return math.ceil(len(channels) / batch_size)
