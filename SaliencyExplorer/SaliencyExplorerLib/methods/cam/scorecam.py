"""Score-CAM (Wang et al. 2020): each channel, scaled to [0, 1] and upsampled, masks the input; the
channel's weight is the softmax over channels of the target's score on that masked input: the class
logit (as torchcam >= 0.4 and pytorch-grad-cam do; probabilities in [0, 1] would make the weights
nearly uniform), or the mean probability over the region for segmentation targets (a sum of logits
over a region would make the softmax one-hot).

Follows torchcam's formulation (normalise, then upsample), so results agree with it. Masks are built
batch by batch into one reused buffer: never one input-sized copy per channel at once.
"""

from __future__ import annotations

import torch

from ...core.maps import normalise, upsample
from ...core.method import register
from ...core.targets import ClassTarget
from .perturbed_base import PerturbedCamMethod


@register
class ScoreCAM(PerturbedCamMethod):
    r"""Score-CAM (Wang et al., CVPR-W 2020): channels weighted by the score of the input masked by each channel.

    .. math:: w_k^{(c)} = \mathrm{softmax}_k\big(y^{(c)}(X \circ H_k)\big), \quad
              H_k = \mathrm{minmax}\big(\mathrm{up}(A_k)\big), \quad L^{(c)} = \mathrm{ReLU}\Big(\sum_k w_k^{(c)} A_k\Big)

    :math:`y^{(c)}` is the target's logit (as torchcam); for segmentation the mean probability over the
    region. One forward per channel, batched; ``max_channels`` keeps the most active channels.
    """

    name = "scorecam"
    aliases = ("score-cam",)
    summary = "Score-CAM: channels weighted by the score of the input masked with each channel"

    def channel_weights(self, run, sample, activation, channels, batch_size, progress):
        x = run.x[sample]
        buffer = torch.empty((batch_size, *x.shape), dtype=x.dtype, device=x.device)
        probability = not isinstance(run.target, ClassTarget)
        scores = []
        for batch in self.batches(channels, batch_size):
            masks = upsample(normalise(activation[batch]), run.spatial_shape)  # (b, *spatial)
            chunk = buffer[: len(batch)]
            torch.mul(x.unsqueeze(0), masks.unsqueeze(1), out=chunk)
            with torch.no_grad():
                output = run.forward(chunk)
            rows = torch.full((len(batch),), sample, device=output.device)
            scores.append(run.score(output, rows, probability=probability).float())
            progress.advance(len(batch))
        return torch.softmax(torch.cat(scores), dim=0)
