"""Ablation-CAM (Desai & Ramaswamy 2020): a channel's weight is the relative drop of the target score
when that channel is zeroed at the target layer.

Zeroing is done by a forward hook on a batch that repeats the sample, row j ablating channel k_j; the
hook is removed on every exit path, so the layer is never left in the model (a known failure of peers).
The drop is divided by |score| rather than score, so a negative logit does not flip the map.
"""

from __future__ import annotations

import torch

from ...core.method import register
from .perturbed_base import PerturbedCamMethod


def _zero_channels(value: torch.Tensor, channels: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Row j of `value` with channel `channels[j]` set to 0 (channel axis 1, or last for tokens)."""
    value = value.clone()
    rows = torch.arange(len(channels), device=value.device)
    if value.dim() != spatial_dims + 2:  # transformer tokens (N, T, C)
        value[rows, :, channels] = 0
    else:
        value[rows, channels] = 0
    return value


@register
class AblationCAM(PerturbedCamMethod):
    r"""Ablation-CAM (Desai & Ramaswamy, WACV 2020): channels weighted by the score drop when each is zeroed.

    .. math:: w_k^{(c)} = \frac{y^{(c)} - y^{(c)}_{A_k = 0}}{|y^{(c)}|}, \quad
              L^{(c)} = \mathrm{ReLU}\Big(\sum_k w_k^{(c)} A_k\Big)

    One forward per channel from the layer on, batched; the layer's output is replaced through a hook that
    is always removed.
    """

    name = "ablationcam"
    aliases = ("ablation-cam",)
    summary = "Ablation-CAM: channels weighted by the score drop when each is zeroed"

    def channel_weights(self, run, sample, activation, channels, batch_size, progress):
        x = run.x[sample]
        base = run.score(run.clean_output[sample : sample + 1], torch.tensor([sample])).float()
        dims = len(run.spatial_shape)
        drops = []
        for batch in self.batches(channels, batch_size):
            chunk = x.unsqueeze(0).expand(len(batch), *x.shape)
            output, _ = run.capture(
                chunk, modify=lambda name, v, b=batch: _zero_channels(v, b, dims) if name == self.layer else v
            )
            rows = torch.full((len(batch),), sample, device=output.device)
            drops.append(base - run.score(output, rows).float())
            progress.advance(len(batch))
        return torch.cat(drops) / base.abs().clamp_min(1e-7)
