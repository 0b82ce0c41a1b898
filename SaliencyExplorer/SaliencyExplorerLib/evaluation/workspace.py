"""A model whose weights the sanity check may destroy, while the caller's model stays exactly as it was.

Normally a deep copy. Some wrapped models cannot be copied (a TorchScript model made hookable keeps its
weights in a hidden ScriptModule next to compiled functions that refuse to be pickled); for those the
weights are randomised in place and every parameter and buffer is restored bit for bit afterwards, even
on error.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def parameter_root(model: nn.Module) -> nn.Module:
    """The module that owns the weights: a hookable TorchScript wrapper hides its ScriptModule in `.script`."""
    script = getattr(model, "script", None)
    return script if isinstance(script, torch.jit.ScriptModule) else model


def _state(root: nn.Module) -> dict:
    tensors = dict(root.named_parameters())
    tensors.update(dict(root.named_buffers()))
    return tensors


class Workspace:
    """`fresh()` gives a model in the original state to randomise; `close()` leaves the original intact."""

    def __init__(self, model: nn.Module):
        self.model = model
        try:
            self._spare = copy.deepcopy(model)  # the probe copy is also the first fresh() (no copy wasted)
            self._copyable = True
        except Exception:  # noqa: BLE001 - any refusal to copy means: work in place, restore after
            self._spare, self._copyable = None, False
        self._snapshot = None
        if not self._copyable:
            self._snapshot = {k: v.detach().clone() for k, v in _state(parameter_root(model)).items()}

    @property
    def in_place(self) -> bool:
        return not self._copyable

    def fresh(self) -> nn.Module:
        if self._copyable:
            spare, self._spare = self._spare, None
            return spare if spare is not None else copy.deepcopy(self.model)
        self.restore()
        return self.model

    def layer(self, work: nn.Module, name: str) -> nn.Module:
        """The named layer (with its parameters) inside a model handed out by `fresh()`."""
        return dict(parameter_root(work).named_modules())[name]

    def restore(self) -> None:
        if self._snapshot is None:
            return
        with torch.no_grad():
            for key, tensor in _state(parameter_root(self.model)).items():
                tensor.copy_(self._snapshot[key])

    def close(self) -> None:
        self.restore()


def layers_with_parameters(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of modules with their own parameters, in the order the forward pass first runs them
    (registration order where hooks are refused, as on ScriptModules)."""
    root = parameter_root(model)
    owners = [name for name, m in root.named_modules() if any(True for _ in m.parameters(recurse=False))]
    if root is not model:
        return owners
    probe = copy.deepcopy(model)
    modules = dict(probe.named_modules())
    order, handles = [], []
    for name in owners:
        handles.append(
            modules[name].register_forward_hook(
                lambda _m, _i, _o, name=name: order.append(name) if name not in order else None
            )
        )
    try:
        with torch.no_grad():
            probe.eval()
            probe(x)
    finally:
        for handle in handles:
            handle.remove()
    return order + [name for name in owners if name not in order]  # unused layers last (never top)
