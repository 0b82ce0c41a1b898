"""Tiny models shared by the engine tests, each built so that the truth is known without the engine.

Hand-weighted models give closed-form maps (computed again in numpy by the tests); the blob model
answers "is there a bright blob?" so that every method must point at the blob; the toy UNet, ViT and
container-output models exercise targets and layers. All are small enough to run in milliseconds on CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


# --- hand-weighted analytic models ----------------------------------------------------------------
def pattern_kernels(dims: int) -> np.ndarray:
    """Four 3^d kernels, one known pattern each: brightness, an edge along axis 0, along the last axis,
    centre minus surround. Shape (4, 1, 3, ..., 3)."""
    shape = (3,) * dims
    box = np.full(shape, 1.0 / 3**dims)
    ramp = np.array([-1.0, 0.0, 1.0])
    edge_first = np.broadcast_to(ramp.reshape((3,) + (1,) * (dims - 1)), shape) / 3 ** (dims - 1)
    edge_last = np.broadcast_to(ramp.reshape((1,) * (dims - 1) + (3,)), shape) / 3 ** (dims - 1)
    centre = -box.copy()
    centre[(1,) * dims] += 1.0
    return np.stack([box, edge_first, edge_last, centre])[:, None].astype(np.float64)


PATTERN_BIAS = np.array([-0.05, 0.02, -0.01, 0.03])
FC_WEIGHT = np.array([[1.0, -0.5, 0.8, 0.3], [-0.7, 1.2, -0.4, 0.9], [0.2, 0.1, -1.0, 0.6]])
FC_BIAS = np.array([0.1, -0.2, 0.05])


class PatternNet(nn.Module):
    """x -> conv(pattern kernels) -> ReLU -> pooling -> linear. `pool="mean"`: global average pooling
    (CAM and Grad-CAM in closed form); `pool="mask"`: a fixed spatial weighting M, so that the gradient
    at the ReLU output is W[k, c] * M(i), varying in space (HiResCAM, XGrad-CAM, LayerCAM, Grad-CAM++)."""

    def __init__(self, dims: int, pool: str = "mean", mask: np.ndarray | None = None):
        super().__init__()
        conv = CONV[dims](1, 4, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(pattern_kernels(dims)))
            conv.bias.copy_(torch.from_numpy(PATTERN_BIAS))
        self.features = nn.Sequential(conv, nn.ReLU())
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.from_numpy(FC_WEIGHT))
            self.fc.bias.copy_(torch.from_numpy(FC_BIAS))
        self.pool = pool
        if pool == "mask":
            self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32))

    def forward(self, x):
        a = self.features(x)
        if self.pool == "mean":
            pooled = a.flatten(2).mean(2)
        else:
            pooled = (a * self.mask).flatten(2).sum(2)
        return self.fc(pooled)


def numpy_pattern_activations(x: np.ndarray) -> np.ndarray:
    """ReLU(correlate(x, kernel_c) + b_c) for one sample x of shape (1, *spatial), zero padding, in numpy."""
    image = x[0].astype(np.float64)
    dims = image.ndim
    padded = np.pad(image, 1)
    kernels = pattern_kernels(dims)[:, 0]
    out = np.zeros((4,) + image.shape)
    for offset in np.ndindex(*(3,) * dims):
        window = padded[tuple(slice(o, o + s) for o, s in zip(offset, image.shape))]
        for c in range(4):
            out[c] += kernels[c][offset] * window
    out += PATTERN_BIAS.reshape((4,) + (1,) * dims)
    return np.maximum(out, 0.0)


# --- planted blob ---------------------------------------------------------------------------------
def blob_image(shape, centre, radius=3.0, amplitude=1.0, noise=0.05, seed=0) -> torch.Tensor:
    """(1, 1, *shape): a Gaussian blob at `centre` (voxel indices) on low-amplitude noise."""
    grids = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij")
    dist2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    image = amplitude * np.exp(-dist2 / (2 * radius**2))
    image += np.random.default_rng(seed).normal(0.0, noise, size=shape)
    return torch.from_numpy(image.astype(np.float32))[None, None]


class BlobNet(nn.Module):
    """Hand-weighted "is there a bright blob?" classifier (class 1 = blob) with a stride-2 pooling,
    so maps are upsampled. Channels: bright (two thresholds), centre-surround, dark background."""

    def __init__(self, dims: int):
        super().__init__()
        conv1 = CONV[dims](1, 4, 3, padding=1)
        conv2 = CONV[dims](4, 4, 3, padding=1)
        box = torch.full((3,) * dims, 1.0 / 3**dims)
        centre = -box.clone()
        centre[(1,) * dims] += 1.0
        with torch.no_grad():
            conv1.weight.copy_(torch.stack([box, box, centre + box, -box])[:, None])
            conv1.bias.copy_(torch.tensor([-0.2, -0.5, -0.1, 0.15]))
            conv2.weight.zero_()
            for c in range(4):
                conv2.weight[c, c] = box
            conv2.bias.zero_()
        self.features = nn.Sequential(conv1, nn.ReLU(), POOL[dims](2), conv2, nn.ReLU())
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0, -1.0, -0.5, 0.05], [1.0, 1.0, 0.5, -0.05]]) * 20)
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.features(x).flatten(2).mean(2))


# --- small generic models -------------------------------------------------------------------------
class SmallCNN(nn.Module):
    """conv-BN-ReLU x2 with pooling, GAP, linear: a random-weight classifier with a proper spatial layer."""

    def __init__(self, dims: int = 2, channels: int = 6, classes: int = 3, inplace: bool = False, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            CONV[dims](1, channels, 3, padding=1),
            nn.ReLU(inplace=inplace),
            POOL[dims](2),
            CONV[dims](channels, channels, 3, padding=1),
            nn.ReLU(inplace=inplace),
        )
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.features(x).flatten(2).mean(2))


class BasicBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.relu(x + self.conv2(self.relu(self.conv1(x))))


class TinyResNet(nn.Module):
    """torch-only ResNet-like model: stem, layer1, layer2 (stride 2), avgpool module, fc."""

    def __init__(self, classes: int = 3):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(4))
        self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.layer2 = nn.Sequential(BasicBlock(8), BasicBlock(8))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.layer2(self.down(self.layer1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TinyUNet(nn.Module):
    """Segmentation toy (N, K, *spatial): encoder, decoder, 1x1 head; K classes."""

    def __init__(self, dims: int = 2, classes: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        conv = CONV[dims]
        self.enc = nn.Sequential(conv(1, 6, 3, padding=1), nn.ReLU())
        self.down = nn.Sequential(POOL[dims](2), conv(6, 6, 3, padding=1), nn.ReLU())
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = nn.Sequential(conv(12, 6, 3, padding=1), nn.ReLU())
        self.head = conv(6, classes, 1)

    def forward(self, x):
        e = self.enc(x)
        return self.head(self.dec(torch.cat([e, self.up(self.down(e))], 1)))


class ContainerOutput(nn.Module):
    """Wraps a model so its output is a tuple (logits, aux) or a dict {"logits", "aux"}."""

    def __init__(self, inner: nn.Module, kind: str):
        super().__init__()
        self.inner = inner
        self.kind = kind

    def forward(self, x):
        logits = self.inner(x)
        return (logits, logits.detach() * 0) if self.kind == "tuple" else {"logits": logits, "aux": logits * 0}


class PairOutputLayer(nn.Module):
    """A layer returning a tuple (features, skip) as some blocks do; the CAM uses element 0."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        y = self.conv(x)
        return y, y.mean()


class TupleLayerNet(nn.Module):
    def __init__(self, reference: SmallCNN):
        super().__init__()
        self.reference = reference
        self.block = PairOutputLayer(reference.features)

    def forward(self, x):
        features, _ = self.block(x)
        return self.reference.fc(features.flatten(2).mean(2))


class TinyViT(nn.Module):
    """Patch embedding -> (optional class token) -> 2 transformer blocks -> class-token/mean head.
    Token outputs (N, T, C) of `blocks.1` must be put back on the patch grid by the engine."""

    def __init__(
        self, dims: int = 2, patch: int = 4, dim: int = 16, classes: int = 3, cls_token: bool = True, seed: int = 0
    ):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = CONV[dims](1, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.1) if cls_token else None
        self.blocks = nn.Sequential(
            *[nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True) for _ in range(2)]
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, T, C), row-major over the grid
        if self.cls is not None:
            tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], 1)
        tokens = self.norm(self.blocks(tokens))
        pooled = tokens[:, 0] if self.cls is not None else tokens.mean(1)
        return self.head(pooled)


class RaisingModel(nn.Module):
    """Runs its first conv (hooks fire), then raises mid-forward."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        self.features(x)
        raise RuntimeError("deliberate failure inside forward")


# --- what must be left untouched --------------------------------------------------------------------
def hooks_left(model: nn.Module) -> list[str]:
    """Every hook still registered on any module or parameter (empty list = clean)."""
    left = []
    for name, module in model.named_modules():
        for kind in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
        ):
            if getattr(module, kind, None):
                left.append(f"{name or '<root>'}.{kind}")
    for name, param in model.named_parameters():
        if param._backward_hooks:
            left.append(f"{name}._backward_hooks")
    from torch.nn.modules import module as module_impl

    for kind in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks"):
        if getattr(module_impl, kind, None):
            left.append(kind)
    return left


def model_snapshot(model: nn.Module) -> dict:
    """State bytes, training flags, requires_grad flags and .grad of every parameter."""
    return {
        "state": {k: v.detach().cpu().numpy().tobytes() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [None if p.grad is None else p.grad.detach().cpu().numpy().tobytes() for p in model.parameters()],
    }
