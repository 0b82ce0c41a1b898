"""What the sliding-window tests share: MONAI's small UNet on a volume several windows large, and a tiny
segmentation net whose answer is known (class 1 where the smoothed intensity is high)."""

from __future__ import annotations

import torch

SHAPE = (40, 36, 28)  # voxels: 3 x 3 x 2 windows of ROI at overlap 0.25
ROI = (16, 16, 16)
SEG_CARD = {  # a windowed segmentation card for SmallSeg-like models: 16^3 windows, Gaussian blend
    "task": "segmentation",
    "classes": ["background", "lesion"],
    "target_layer": "features",
    "input": {"intensity": {"type": "scale", "a": 0.01, "b": 0.0}},
    "inference": {
        "mode": "sliding_window",
        "roi_size": [16, 16, 16],
        "overlap": 0.25,
        "blend": "gaussian",
        "sw_batch_size": 4,
    },
}


def small_unet():
    """monai.networks.nets.UNet, 3D, 1 -> 3 channels, random weights (seed 0), eval mode."""
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    return UNet(3, 1, 3, (4, 8, 16), (2, 2), num_res_units=1).eval()


def random_volume():
    return torch.randn((1, 1, *SHAPE), generator=torch.Generator().manual_seed(1))


def relative_error(ours, ref) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


class BrightBlobSeg(torch.nn.Module):
    """Class 1 where the smoothed intensity is high: a segmentation net with an obvious answer."""

    def __init__(self):
        super().__init__()
        self.smooth = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.features = torch.nn.Conv3d(4, 4, 3, padding=1)
        self.head = torch.nn.Conv3d(4, 2, 1)
        with torch.no_grad():
            self.smooth.weight.fill_(1 / 27)
            self.smooth.bias.copy_(torch.tensor([-0.3, -0.4, -0.5, -0.6]))
            self.features.weight.fill_(1 / 108)
            self.features.bias.zero_()
            self.head.weight.copy_(torch.tensor([[-4.0] * 4, [4.0] * 4]).reshape(2, 4, 1, 1, 1))
            self.head.bias.copy_(torch.tensor([0.0, -0.2]))

    def forward(self, x):
        return self.head(torch.relu(self.features(torch.relu(self.smooth(x)))))


class WindowOnlySeg(BrightBlobSeg):
    """BrightBlobSeg that refuses every input but one window (16^3), as a patch-trained network whose
    sizes must be divisible by its strides does: a check that runs it on the whole grid fails."""

    def forward(self, x):
        if x.shape[2] != 16 or x.shape[3] != 16 or x.shape[4] != 16:
            raise ValueError("spatial size must be 16 x 16 x 16 (one window)")
        return self.head(torch.relu(self.features(torch.relu(self.smooth(x)))))
