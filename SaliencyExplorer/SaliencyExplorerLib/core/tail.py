"""`LayerTail`: a CAM layer's gradient over sliding windows from the clean pass, running only the model's tail.

Why: a whole-scan CAM over the *predicted* region needs the blended output first (one inference over every
window), then each window's layer output and the gradient of its score share to it. Re-running each window
forward and backward doubled the cost; but the gradient to the layer needs only the layers *after* it. So
the clean pass keeps, per window, the layer's output and the outputs of the modules that run before the
layer and that the tail consumes (a U-Net's skip connections), found once by watching which tensors the
operations after the layer read (a TorchFunctionMode). The second phase calls the model with those modules
and the layer itself answering from the store (their own computation skipped, unused ones answer zeros),
so only the tail and its backward run. Every replayed batch is checked against the window's clean output;
a mismatch (a model whose tail reads something else) falls back to the full recompute with a note.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from .model_call import call_model
from .resources import available_memory, gib
from .targets import pick_output

STORE_FP32_LIMIT = 1 << 30  # bytes: above this the stored activations are kept in float16
STORE_SHARE = 0.25  # at most this share of the memory free on the store's device; beyond it, the full recompute


def store_budget(device: torch.device) -> int:
    """Bytes the store may take: a quarter of the free memory of its device (4 GiB when that is unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0] * STORE_SHARE)
    free = available_memory()
    return int(free * STORE_SHARE) if free else 4 << 30


class _Meta:
    """A recorded output tensor's shape (without the window axis) and dtype: enough to answer zeros."""

    def __init__(self, t: torch.Tensor):
        self.shape, self.dtype = tuple(t.shape[1:]), t.dtype


class _Consumed(TorchFunctionMode):
    """Marks which recorded tensors the operations after the target layer read."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        state = self.state
        if state["done"] and state["watch"]:
            for value in tree_flatten((args, kwargs))[0]:
                if isinstance(value, torch.Tensor) and id(value) in state["watch"]:
                    state["consumed"].add(state["watch"][id(value)])
        return func(*args, **kwargs)


class LayerTail:
    """Records one layer's output (and what the tail reads) per window in the clean pass; replays the tail."""

    def __init__(self, model: nn.Module, name: str, layer: nn.Module):
        self.model, self.name, self.layer = model, name, layer
        self.ancestors = {model} | {
            model.get_submodule(".".join(name.split(".")[:k])) for k in range(1, len(name.split(".")))
        }
        self.names = {id(m): n for n, m in model.named_modules()}
        self.needed = None  # keys (module name, call index) whose outputs the tail reads; None before batch 1
        self.meta = {}  # key -> (module, output tree of (shape without batch, dtype))
        self.order = []  # sibling keys in call order
        self.store = {}  # window item -> (layer output row, {key: output tree row})
        self.dtype = None  # float16 when the store would be large, else each tensor's own dtype
        self.layer_dtype = None
        self.note = None  # why the replay stopped, if it did

    @property
    def active(self) -> bool:
        return self.note is None

    def _stop(self, why: str) -> None:
        if self.note is None:
            self.note = (
                f"Sliding windows: the CAM layer's tail could not be replayed ({why}); each window was "
                f"run again forward and backward instead."
            )
        self.store.clear()

    # --- the clean pass ---------------------------------------------------------------------------------
    def record(self, call, windows: torch.Tensor, items, total_windows: int):
        """`call(windows)` (the clean pass of one batch) while keeping what the tail needs for `items`."""
        if not self.active:
            return call(windows)
        first = self.needed is None
        state = {
            "stack": [],
            "started": False,
            "done": False,
            "target": None,
            "calls": 0,
            "siblings": [],
            "watch": {},
            "consumed": set(),
            "counts": {},
        }

        def pre(module, args):
            state["stack"].append(module)
            if module is self.layer:
                state["started"] = True

        def post(module, args, output):
            state["stack"].pop()
            if module is self.layer:
                state["calls"] += 1
                state["target"] = output
                state["done"] = True
                return
            if state["started"] or module in self.ancestors or not state["stack"]:
                return
            if state["stack"][-1] not in self.ancestors:
                return
            name = self.names.get(id(module), "?")
            k = state["counts"].get(name, 0)
            state["counts"][name] = k + 1
            key = (name, k)
            # after the first batch only what the tail reads is held (not every encoder output till the end);
            # the containers are copied now: a forward may pop from a module's output list (SegResNetDS does)
            kept = tree_map(lambda v: v, output) if first or key in self.needed else None
            state["siblings"].append((key, module, kept))
            if first:
                for value in tree_flatten(output)[0]:
                    if isinstance(value, torch.Tensor):
                        state["watch"][id(value)] = key

        handles = []
        try:
            for module in self.model.modules():
                handles.append(module.register_forward_pre_hook(pre))
                handles.append(module.register_forward_hook(post))
            if first:
                with _Consumed(state):
                    y = call(windows)
            else:
                y = call(windows)
        finally:
            for handle in handles:
                handle.remove()
        target, rows = state["target"], len(items)
        if state["calls"] != 1 or not isinstance(target, torch.Tensor) or target.shape[0] != rows:
            self._stop("the layer must run once per forward pass and output one tensor with the windows first")
            return y
        siblings = state["siblings"]
        if first:
            self.order = [key for key, _, _ in siblings]
            self.needed = set(state["consumed"])
            for key, module, output in siblings:
                self.meta[key] = (module, tree_map(lambda t: _Meta(t) if isinstance(t, torch.Tensor) else t, output))
            self.layer_dtype = target.dtype
            size = target[0].numel() * target.element_size()
            for key, _, output in siblings:
                if key in self.needed:
                    size += sum(
                        t[0].numel() * t.element_size() for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)
                    )
            total = size * total_windows
            self.dtype = torch.float16 if total > STORE_FP32_LIMIT else None
            total = total // 2 if self.dtype is not None else total
            if total > store_budget(target.device):
                self._stop(
                    f"keeping the layer's outputs of {total_windows} windows would take {gib(total)}, more "
                    f"than a quarter of the free memory"
                )
                return y
        elif [key for key, _, _ in siblings] != self.order:
            self._stop("the model calls different modules for different windows")
            return y
        kept = {key: output for key, _, output in siblings if key in self.needed}
        if any(isinstance(t, torch.Tensor) and (t.dim() == 0 or t.shape[0] != rows) for t in tree_flatten(kept)[0]):
            self._stop("a module before the layer that the tail reads does not put the windows first")
            return y
        for r, item in enumerate(items):
            self.store[item] = (
                self._keep(target[r]),
                {
                    key: tree_map(lambda t: self._keep(t[r]) if isinstance(t, torch.Tensor) else t, o)
                    for key, o in kept.items()
                },
            )
        return y

    def _keep(self, t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        return t.to(self.dtype) if self.dtype is not None and t.is_floating_point() else t.clone()

    # --- the second phase -------------------------------------------------------------------------------
    def replay(self, call, windows: torch.Tensor, items, clean_outputs, importance):
        """(output with graph, layer output leaf) for `items` with only the tail run, or None (fallback)."""
        if not self.active or any(item not in self.store for item in items):
            return None
        stored = [self.store.pop(item) for item in items]
        rows = len(items)
        leaf = torch.stack([a for a, _ in stored]).to(self.layer_dtype).requires_grad_(True)
        counts, patched = {}, []

        def stack(key):
            flat, spec = tree_flatten(stored[0][1][key])
            columns = [tree_flatten(s[key])[0] for _, s in stored]
            metas = tree_flatten(self.meta[key][1])[0]
            values = [
                torch.stack([c[i] for c in columns]).to(metas[i].dtype) if isinstance(v, torch.Tensor) else v
                for i, v in enumerate(flat)
            ]
            return tree_unflatten(values, spec)

        def zeros(key):
            return tree_map(
                lambda m: (
                    torch.zeros((rows, *m.shape), dtype=m.dtype, device=windows.device) if isinstance(m, _Meta) else m
                ),
                self.meta[key][1],
            )

        def answer(name):
            def forward(*args, **kwargs):
                k = counts.get(name, 0)
                counts[name] = k + 1
                key = (name, k)
                if key not in self.meta:
                    raise _Mismatch()
                return stack(key) if key in self.needed else zeros(key)

            return forward

        def layer_forward(*args, **kwargs):
            return leaf.clone()  # as LayerCapture: an in-place op downstream must not touch the leaf

        modules = {}
        for name, _ in self.order:
            modules[name] = self.meta[(name, 0)][0]
        try:
            for name, module in [(self.name, self.layer), *modules.items()]:
                patched.append((module, module.__dict__.get("forward")))
                module.forward = layer_forward if module is self.layer else answer(name)
            with torch.enable_grad():
                y = call(windows)
        except Exception as exc:  # noqa: BLE001  (the recompute then runs the model as it is, errors included)
            mismatch = isinstance(exc, _Mismatch) or isinstance(exc.__cause__, _Mismatch)
            self._stop(
                "the model called its modules in another order" if mismatch else f"the tail raised {type(exc).__name__}"
            )
            return None
        finally:
            for module, old in patched:
                if old is None:
                    module.__dict__.pop("forward", None)
                else:
                    module.forward = old
        expected = torch.stack([clean_outputs[item] for item in items])
        got = y.detach() * importance.to(y.dtype)
        tolerance = (2e-2 if self.dtype is not None else 1e-4) * float(expected.abs().max()) + 1e-6
        if got.shape != expected.shape or float((got - expected).abs().max()) > tolerance:
            self._stop("the tail's output differs from the window's clean output")
            return None
        return y, leaf


class _Mismatch(Exception):
    pass


class TailRun:
    """Mixin for a window batch's sub-run: `activations_and_gradients` from the store and the tail alone."""

    tail: LayerTail | None = None
    items: list = ()
    clean_outputs: dict = {}
    importance: torch.Tensor | None = None

    def activations_and_gradients(self, need_grad: bool = True):
        tail = self.tail
        if tail is None or len(self.layers) != 1 or self.layers[0][1] is not tail.layer:
            return super().activations_and_gradients(need_grad)
        name = self.layers[0][0]
        if not need_grad:  # activations only (Eigen-CAM): the store is the answer, no model call at all
            if not tail.active or any(item not in tail.store for item in self.items):
                return super().activations_and_gradients(need_grad)
            stored = torch.stack([tail.store.pop(item)[0] for item in self.items]).to(tail.layer_dtype)
            return [(name, self.feature_map(stored), None)]
        got = tail.replay(self._tail_call, self.x, self.items, self.clean_outputs, self.importance)
        if got is None:
            return super().activations_and_gradients(need_grad)
        output, leaf = got
        score = self.score(output)
        if not score.requires_grad:
            return super().activations_and_gradients(need_grad)
        (grad,) = torch.autograd.grad(score.sum(), leaf, allow_unused=True)
        if grad is None:
            return super().activations_and_gradients(need_grad)
        self.passes["backward"] += int(output.shape[0])
        self.tail_rows = getattr(self, "tail_rows", 0) + int(output.shape[0])
        return [(name, self.feature_map(leaf.detach()), self.feature_map(grad))]

    def _tail_call(self, windows):
        self.passes["tail"] += int(windows.shape[0])  # a model call, of which only the tail computes
        return pick_output(call_model(self.model, windows), self.output_key)
