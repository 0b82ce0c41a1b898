"""Shared test helpers for the geometry/pipeline/CLI tests: a tiny model whose saliency is known.

BlobNet's class-1 logit is the mean over the volume of relu(smooth(x) - bias): a blob detector. Its
Grad-CAM on ``detector`` is therefore that detector's response itself (the gradient of a mean is uniform),
which is largest on the bright lesion: the heatmap must peak inside it, wherever the lesion lies in space.
"""

import torch
from torch import nn


class BlobNet(nn.Module):
    def __init__(self, spatial_dims=3, in_channels=1, bias=0.6, width=3):
        super().__init__()
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        self.detector = conv(in_channels, 1, width, padding=width // 2, bias=True)
        with torch.no_grad():
            self.detector.weight.fill_(1.0 / (in_channels * width**spatial_dims))
            self.detector.bias.fill_(-bias)
        self.act = nn.ReLU()

    def forward(self, x):
        blob = self.act(self.detector(x)).flatten(1).mean(1)
        return torch.stack([-blob, blob], dim=1) * 10.0


CT_CARD = {
    "name": "blob",
    "classes": ["no lesion", "lesion"],
    "target_layer": "act",
    "input": {"intensity": {"type": "window", "min": -200, "max": 300}},
}


class HalfNet(BlobNet):
    """A blob detector that only looks at the first half of its FIRST tensor spatial axis (dim 2).

    Which anatomy that is depends on the card's array_order: for an RAS card, "xyz" makes dim 2 the
    i axis (Left half: low i, i points to R), "zyx" makes it the k axis (Inferior half). A layout bug in
    either direction sends the heatmap to the wrong lesion.
    """

    def forward(self, x):
        keep = torch.zeros_like(x)
        keep[:, :, : x.shape[2] // 2] = 1.0
        return super().forward(x * keep)


class SegNet(BlobNet):
    """A per-voxel 'segmenter': logits (N, 2, *spatial) = [-blob, blob] of the blob detector."""

    def forward(self, x):
        blob = self.act(self.detector(x))
        return torch.cat([-blob, blob], dim=1) * 10.0


def two_lesion_phantom(size, spacing, direction, first, second, radius=6.0):
    """One body, two lesions (the brighter voxel wins), and a mask per lesion."""
    import SimpleITK as sitk
    from SaliencyExplorerLib.demo.phantoms import make_phantom

    a, ma = make_phantom(
        size=size, spacing=spacing, direction=direction, lesion_center_lps=first, lesion_radius_mm=radius, seed=0
    )
    b, mb = make_phantom(
        size=size, spacing=spacing, direction=direction, lesion_center_lps=second, lesion_radius_mm=radius, seed=0
    )
    return sitk.Maximum(a, b), ma, mb


def write_dicom_series(image, folder):
    """A CT-like int16 DICOM series of ``image`` (any direction), one file per slice, as scanners write it."""
    import SimpleITK as sitk

    folder.mkdir()
    img = sitk.Cast(image, sitk.sitkInt16)
    d = img.GetDirection()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.1.99"
    for k in range(img.GetDepth()):
        s = img[:, :, k]
        pos = img.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": "CT",
            "0020|000e": series,
            "0020|000d": series + ".1",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",
            "0020|0037": "\\".join(f"{v:.10f}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
            "0020|0032": "\\".join(f"{v:.10f}" for v in pos),
            "0020|0013": str(k + 1),
            "0028|0030": f"{img.GetSpacing()[1]:.10f}\\{img.GetSpacing()[0]:.10f}",
            "0018|0050": f"{img.GetSpacing()[2]:.10f}",
            "0008|0018": f"{series}.{k + 1}",
        }
        for key, value in tags.items():
            s.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(s)
    return folder
