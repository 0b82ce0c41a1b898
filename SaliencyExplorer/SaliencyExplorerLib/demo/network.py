"""The demo's network: a small 3D CNN that says whether a CT-like volume contains a lesion.

Why here (importable, not in a script): the shipped state dict names this class in its card
(``SaliencyExplorerLib.demo.network.LesionNet``), which is the state-dict route users copy for their own
models. ``features.block3`` is the CAM target layer: the last layer with a spatial grid (input / 2).
"""

from __future__ import annotations

from torch import nn


class ConvBlock(nn.Sequential):
    """Conv3d 3x3x3 -> BatchNorm -> ReLU (in place, as many real networks do), optionally 2x max pooling."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool):
        layers = [
            nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        ]
        if pool:
            layers.append(nn.MaxPool3d(2))
        super().__init__(*layers)


class LesionNet(nn.Module):
    """(N, in_channels, D, H, W) -> (N, num_classes) logits; class 1 = lesion."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 8):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("block1", ConvBlock(in_channels, width, pool=True))
        self.features.add_module("block2", ConvBlock(width, 2 * width, pool=False))
        self.features.add_module("block3", ConvBlock(2 * width, 2 * width, pool=False))
        self.pool = nn.AdaptiveMaxPool3d(1)  # "is there a lesion anywhere": max, not mean
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))
