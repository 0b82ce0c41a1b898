"""A model with an analytic faithfulness answer: its score is the mean intensity inside a known box."""

import numpy as np
import torch
from torch import nn


class BoxMean(nn.Module):
    """Score = mean intensity of channel 0 inside `box` (a tuple of slices), one output logit."""

    def __init__(self, box):
        super().__init__()
        self.box = box
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        inside = x[(slice(None), 0, *self.box)]
        return (self.scale * inside.flatten(1).mean(1))[:, None]


def box_case(shape, box, seed=0, channels=1):
    gen = torch.Generator().manual_seed(seed)
    x = 0.2 + 0.3 * torch.rand((1, channels, *shape), generator=gen)
    x[(slice(None), slice(None), *box)] = 1.0
    true_map = np.zeros(shape)
    true_map[box] = 1.0
    return BoxMean(box), x, true_map
