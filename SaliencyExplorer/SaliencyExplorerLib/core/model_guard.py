"""Leave the user's model exactly as it was: modes and `requires_grad` flags restored after every call."""

from __future__ import annotations

import contextlib

from torch import nn


@contextlib.contextmanager
def guarded(model: nn.Module, eval_mode: bool = True):
    """Run in eval mode (no dropout, no batch-norm statistics updates) and restore everything after."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    grads = [(p, p.grad) for p in model.parameters()]
    try:
        if eval_mode:
            model.eval()
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for param, flag in flags:
            if param.requires_grad != flag:
                param.requires_grad_(flag)
        for param, grad in grads:
            if param.grad is not grad:
                param.grad = grad
