"""A tiny model whose right answer is known: it responds to bright (lesion-like) voxels only.

Why: to test that a heatmap lands on the lesion in patient space we need a model whose evidence is
known without training. ``BrightSpot``: a 3x3x3 mean filter minus 100 HU, ReLU, global average, then
class 1 = "lesion" gets +activation and class 0 gets -activation. Grad-CAM on ``conv`` is therefore
positive exactly where the local mean exceeds 100 HU: inside the phantom's lesion (160 HU), not in the
body (40 HU) or air.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


class BrightSpot(nn.Module):
    def __init__(self, threshold_hu=100.0):
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 27)
            self.conv.bias.fill_(-threshold_hu)
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def bright_spot_file(folder, shape=(1, 1, 14, 36, 40)):
    """The model saved as TorchScript (self-contained: what the worker process loads)."""
    path = folder / "bright_spot.ts.pt"
    torch.jit.trace(BrightSpot().eval(), torch.zeros(shape)).save(str(path))
    return path


class BrightSpot2D(nn.Module):
    """The same detector for 2D models (an X-ray or one slice): class 1 where the local mean > 100."""

    def __init__(self, threshold_hu=100.0):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / 9)
            self.conv.bias.fill_(-threshold_hu)
            self.fc.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))
