"""A MONAI bundle's network and weights: ``network_def`` built only for classes of ``monai.networks.nets`` with
plain arguments, ``models/model.pt`` read as a state dict without running code, ``model.ts`` inspected.

Why apart: MONAI is imported only here (and only when a bundle is loaded); the card needs no MONAI.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from .bundle_config import Resolver as _Resolver
from .bundle_config import fail as _fail
from .file_safety import check_checkpoint_file, inspect_file
from .network_build import build_from_args


def build_network(config: dict, path: Path) -> nn.Module:
    """``network_def`` built, only for network classes of ``monai.networks.nets`` with plain arguments."""
    try:
        import monai.networks.nets as nets  # noqa: PLC0415  (MONAI is optional: bundles only)
    except ImportError as exc:
        raise ModelLoadError(
            f"MONAI bundles need MONAI, which is not installed ({exc}). Install it: pip install monai"
        ) from None
    resolver = _Resolver(config, path)
    net = resolver.value(config.get("network_def"), "network_def")
    if not isinstance(net, dict) or "_target_" not in net:
        _fail(path, "network_def", "is missing or has no _target_")
    target = str(net["_target_"])
    name = target.rsplit(".", 1)[-1]
    if target not in (name, f"monai.networks.nets.{name}") or not isinstance(getattr(nets, name, None), type):
        _fail(
            path,
            "network_def._target_",
            f"is {target!r}, not a class of monai.networks.nets",
            "Only MONAI's own networks are built from a bundle; for others export the model (TorchScript, .pt2).",
        )

    cls = getattr(nets, name)
    if not issubclass(cls, nn.Module):
        _fail(
            path,
            "network_def._target_",
            f"is {target!r}, a class of monai.networks.nets that is not a network",
            "Name a network class (UNet, SegResNet, ...).",
        )

    def reserved(node):  # MONAI's own keys (_target_, _mode_, _disabled_, _requires_, _desc_): never data
        if isinstance(node, dict):
            return next((k for k in node if str(k).startswith("_") and str(k).endswith("_")), None) or next(
                (r for r in map(reserved, node.values()) if r), None
            )
        return next((r for r in map(reserved, node) if r), None) if isinstance(node, list) else None

    args = {k: v for k, v in net.items() if k != "_target_"}
    key = reserved(args)
    if key is not None:  # _mode_ "debug" would open pdb, "callable" return no network, _disabled_ None
        _fail(
            path,
            f"network_def.{key}",
            "is a MONAI instruction, not an argument of the network",
            "Remove it: the network is built from plain values only.",
        )
    try:  # no downloads, then the size on the meta device, then the build (network_build)
        return build_from_args(cls, args, f"{path}: network_def", "Fix network_def in the config.")
    except TypeError as exc:  # wrong keyword arguments and the like
        _fail(path, "network_def", f"does not build {name} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")


def _check_weights_file(file: Path) -> None:
    """Empty, truncated, Git LFS pointer, text: named. ``model.pt`` must be a torch.save file, ``model.ts``
    TorchScript."""
    if file.suffix != ".ts":
        check_checkpoint_file(
            file,
            "the state dict a bundle keeps in models/model.pt",
            "a bundle's TorchScript is models/model.ts; else save torch.save(net.state_dict(), 'models/model.pt').",
        )
        return
    inspection = inspect_file(file)
    if inspection.kind in ("empty", "not_a_model"):
        raise ModelLoadError(inspection.problems[0])
    if inspection.kind != "torchscript":
        raise ModelLoadError(
            f"{file} is a {inspection.kind.replace('_', ' ')} file, not TorchScript (torch.jit.save); "
            "a bundle keeps a state dict in models/model.pt: rename it."
        )


def load_weights(network: nn.Module, file: Path) -> None:
    """``models/model.pt``: a state dict (or {"model": state dict}), read without running code."""
    _check_weights_file(file)
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{file} is not a plain state dict (reading it would run code: {type(exc).__name__}). "
            "Save torch.save(net.state_dict(), 'models/model.pt')."
        ) from exc
    if (
        isinstance(state, dict)
        and isinstance(state.get("model"), dict)
        and not any(isinstance(v, torch.Tensor) for v in state.values())
    ):
        state = state["model"]
    expected = set(network.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelLoadError(
            f"{file} does not fit network_def: missing {', '.join(missing[:6]) or 'none'}; "
            f"unexpected {', '.join(unexpected[:6]) or 'none'}. Check network_def in the config."
        )
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{file} does not fit network_def: {str(exc).splitlines()[0]}") from None
