"""Capturing (and, for ablation, replacing) layer outputs with forward hooks that are always removed.

Why forward hooks plus autograd rather than full backward module hooks: backward module hooks break on
layers followed by an in-place ReLU. The captured tensor is protected from in-place ops downstream by
handing a clone to the rest of the network; when nothing upstream needs gradients (frozen model), the
layer output becomes a fresh leaf so gradients flow only as far back as the layer and never to the
parameters. `LayerCapture` is used inside a `torch.no_grad()` block whose exit restores grad mode.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import SaliencyError


def select_element(output, key):
    """The tensor inside a layer's output: the output itself, or `output[key]` for tuple/list/dict."""
    if isinstance(output, torch.Tensor):
        return output
    if key is None:
        if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            return output[0]
        kind = type(output).__name__
        raise SaliencyError(
            f"The layer returns a {kind}, not a tensor. Say which element to use with "
            f"layer_output=<index or key> (for example layer_output=0)."
        )
    try:
        value = output[key]
    except (KeyError, IndexError, TypeError) as exc:
        raise SaliencyError(f"The layer's output has no element {key!r} ({exc}).") from None
    if not isinstance(value, torch.Tensor):
        raise SaliencyError(f"Element {key!r} of the layer's output is a {type(value).__name__}, not a tensor.")
    return value


def replace_element(output, key, value):
    """`output` with its selected element swapped for `value` (same container type)."""
    if isinstance(output, torch.Tensor):
        return value
    if key is None:
        key = 0
    if isinstance(output, tuple):
        items = list(output)
        items[key] = value
        return type(output)(*items) if hasattr(output, "_fields") else tuple(items)
    if isinstance(output, list):
        items = list(output)
        items[key] = value
        return items
    new = dict(output) if not hasattr(output, "copy") else output.copy()
    new[key] = value
    return new


class LayerCapture:
    """Context manager recording the outputs of named layers during forward passes.

    need_grad: keep the captured tensors in the autograd graph (for gradient-weighted CAMs).
    modify: optional `modify(name, tensor) -> tensor` applied to a layer's output (ablation).
    """

    def __init__(
        self, layers: list[tuple[str, nn.Module]], element=None, need_grad: bool = False, modify: Callable | None = None
    ):
        self.layers = layers
        self.element = element
        self.need_grad = need_grad
        self.modify = modify
        self.outputs: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self._handles = []

    def _hook(self, name):
        def hook(module, inputs, output):
            value = select_element(output, self.element)
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.modify is not None:
                value = self.modify(name, value)
                output = replace_element(output, self.element, value)
            if not self.need_grad:
                # A copy: an in-place op after this layer (ReLU(inplace=True)) would overwrite a view.
                self.outputs[name] = value.detach().clone()
                return output
            # The forward runs without autograd up to the first target layer; from here on the graph
            # is recorded, so the pass costs little more than inference and no parameter gradient
            # is ever computed. (The caller's `no_grad` context restores the mode afterwards.)
            torch.set_grad_enabled(True)
            if value.requires_grad:
                self.outputs[name] = value
                # The network continues on a clone, so an in-place op after this layer cannot
                # overwrite the captured tensor; gradients still reach `value` through the clone.
                return replace_element(output, self.element, value.clone())
            leaf = value.detach().requires_grad_(True)
            self.outputs[name] = leaf
            # Again a clone downstream: an in-place op on the leaf itself is refused by autograd.
            return replace_element(output, self.element, leaf.clone())

        return hook

    def __enter__(self):
        try:
            for name, module in self.layers:
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except Exception:
            self.remove()
            raise
        return self

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __exit__(self, *exc):
        self.remove()
        return False
