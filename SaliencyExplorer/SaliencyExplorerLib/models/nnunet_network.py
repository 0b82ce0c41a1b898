"""nnU-Net v2 networks: built from the plans as nnU-Net builds them, the checkpoint's weights checked
against them, and nnU-Net's two ensembles (folds, test-time mirroring) as modules.

Why apart: ``dynamic_network_architectures`` (the package nnU-Net builds its networks with) is imported only
here, and only the classes the plans may name (its architectures, torch.nn building blocks).
"""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from .network_build import build_from_args
from .nnunet_plans import _fail, configuration, dataset_fields, label_layout

INSTALL = "pip install dynamic-network-architectures --no-deps"
# In a checkout: the set-up script's nnunet option does the same in .venv (and adds einops).
SETUP_OPTION = "bash scripts/setup_env.sh nnunet"
ARCH_PREFIX = "dynamic_network_architectures.architectures."
IMPORTABLE_PREFIX = "torch.nn."  # the only classes a plan's _kw_requires_import may name


def _architecture_class():
    try:
        importlib.import_module("dynamic_network_architectures")
    except ImportError as exc:
        raise ModelLoadError(
            f"nnU-Net folders need the package dynamic_network_architectures, which nnU-Net builds "
            f"its networks with, and it is not installed ({exc}). Install it: `{SETUP_OPTION}` in a "
            f"checkout, else `{INSTALL}` (--no-deps keeps your torch)."
        ) from None


def _locate(dotted: str, prefix: str, where: str, plans_path: Path):
    if not isinstance(dotted, str) or not dotted.startswith(prefix):
        _fail(
            plans_path,
            where,
            f"names {dotted!r}, outside {prefix}*",
            "Only networks of dynamic_network_architectures and torch.nn building blocks are built from plans.",
        )
    module_name, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        _fail(
            plans_path,
            where,
            f"names {dotted!r}, which cannot be imported ({exc})",
            f"Update dynamic_network_architectures ({INSTALL.replace('install', 'install -U')}).",
        )


def build_network(plans: dict, dataset: dict, config_name: str, root: Path) -> nn.Module:
    """The configuration's network as nnU-Net builds it (``get_network_from_plans``), no deep supervision."""
    _architecture_class()
    plans_path = root / "plans.json"
    config = configuration(plans, config_name, plans_path)
    arch = config.get("architecture")
    if not isinstance(arch, dict) or "network_class_name" not in arch:
        _fail(
            plans_path,
            f"configurations.{config_name}.architecture",
            "is missing: plans from nnU-Net before v2.4 describe the network differently",
            "Re-plan with nnU-Net >= 2.4 (the weights stay valid).",
        )
    where = f"configurations.{config_name}.architecture"
    cls = _locate(arch["network_class_name"], ARCH_PREFIX, f"{where}.network_class_name", plans_path)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        _fail(plans_path, f"{where}.network_class_name", f"names {cls!r}, not a torch.nn.Module")
    kwargs = dict(arch.get("arch_kwargs") or {})
    for key in arch.get("_kw_requires_import") or ():
        if kwargs.get(key) is not None:
            kwargs[key] = _locate(kwargs[key], IMPORTABLE_PREFIX, f"{where}.arch_kwargs.{key}", plans_path)
    channels, labels = dataset_fields(dataset, root / "dataset.json")
    _, heads, foreground = label_layout(labels)
    inputs = len(channels) + (len(foreground) if config.get("previous_stage") else 0)  # a cascade: + one-hot
    try:  # no downloads, then the size on the meta device, then the build (network_build)
        return build_from_args(
            cls,
            dict(input_channels=inputs, num_classes=len(heads), deep_supervision=False, **kwargs),
            f"{plans_path}: {where}.arch_kwargs",
            "Restore the plans.json nnU-Net wrote.",
        )
    except TypeError as exc:
        _fail(plans_path, f"{where}.arch_kwargs", f"do not fit {cls.__name__} ({exc})")


class FoldEnsemble(nn.Module):
    """nnU-Net's ensemble of folds: the mean of the folds' logits (``folds.N`` is fold N's network).

    Averaging per window equals nnU-Net's averaging of each fold's blended prediction: blending is linear.
    """

    def __init__(self, networks, names):
        super().__init__()
        self.folds = nn.ModuleList(networks)
        self.fold_names = list(names)

    def forward(self, x):
        out = None
        for net in self.folds:
            y = net(x)
            out = y if out is None else out + y
        return out / len(self.folds)


class MirrorEnsemble(nn.Module):
    """nnU-Net's test-time mirroring: the mean of ``flip(net(flip(x)))`` over no flip and every combination of
    the spatial ``axes`` (its ``_internal_maybe_mirror_and_predict``). Gradients through it are the mean of
    each pass's gradient flipped back, so gradient and perturbation methods explain the mirrored prediction.
    A layer inside runs once per pass: methods that capture layers must explain ``network`` instead."""

    def __init__(self, network, axes):
        super().__init__()
        self.network = network
        self.axes = tuple(int(a) for a in axes)

    def forward(self, x):
        dims = [a + 2 for a in self.axes]
        flips = [c for n in range(1, len(dims) + 1) for c in itertools.combinations(dims, n)]
        out = self.network(x)
        for flip in flips:
            out = out + torch.flip(self.network(torch.flip(x, flip)), flip)
        return out / (len(flips) + 1)


def _load_weights(network: nn.Module, state: dict, ckpt: Path, plans_path: Path) -> None:
    expected, given = network.state_dict(), state
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = sorted(
        k
        for k in set(expected) & set(given)
        if isinstance(given[k], torch.Tensor) and tuple(given[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:

        def names(keys):
            return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")

        parts = [
            f"missing {names(missing)}" if missing else "",
            f"unexpected {names(unexpected)}" if unexpected else "",
            f"other shapes for {names(shapes)}" if shapes else "",
        ]
        raise ModelLoadError(
            f"{ckpt}: field 'network_weights' does not fit the network {plans_path} describes "
            f"({'; '.join(p for p in parts if p)}). The checkpoint and plans.json do not belong together."
        )
    network.load_state_dict(given, strict=True)
