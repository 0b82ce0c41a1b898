"""Identity modules standing where a compiled model's layer was, so forward hooks can see its output.

Why: TorchScript modules refuse forward hooks and a ``torch.export`` graph has no sub-modules that run.
The loaders in ``torchscript`` and ``exported`` route the layer's output through a
:class:`Tap` registered under the layer's own dotted name. The engine's hooks then record it, and can
replace it (Score-CAM, ablation), exactly as on an eager model, because everything downstream consumes
the tap's output.
"""

from __future__ import annotations

from torch import nn

_TAP_CLASSES: dict[str, type] = {}


class Tap(nn.Module):
    """Returns its input unchanged; exists only to be hooked."""

    def forward(self, value):
        return value


def tap_class(type_name: str) -> type:
    """A Tap subclass named after the original layer's type, so layer tables still read 'Conv3d'."""
    short = (type_name or "Tap").split(".")[-1] or "Tap"
    if not short.isidentifier():
        short = "Tap"
    if short not in _TAP_CLASSES:
        _TAP_CLASSES[short] = type(short, (Tap,), {"__doc__": f"Tap standing for a {short} layer."})
    return _TAP_CLASSES[short]


def install_tap(root: nn.Module, dotted: str, type_name: str) -> Tap:
    """Put a Tap at ``dotted`` inside ``root``, keeping any parameters or children already there."""
    parent = root
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = parent._modules.get(part)
        if child is None:
            child = tap_class("Module")()
            parent.add_module(part, child)
        parent = child
    old = parent._modules.get(parts[-1])
    if isinstance(old, Tap):
        if type(old).__name__ == "Module" and type_name:  # made as a parent of a deeper tap: now named
            old.__class__ = tap_class(type_name)
        return old
    tap = tap_class(type_name)()
    if old is not None:  # an export shell that holds the layer's weights: keep them reachable
        tap._parameters.update(old._parameters)
        tap._buffers.update(old._buffers)
        tap._modules.update(old._modules)
    parent.add_module(parts[-1], tap)
    return tap
