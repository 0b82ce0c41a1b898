"""TorchScript models made hookable: the graph is cut at each requested layer's output.

Why: a loaded ``ScriptModule`` refuses ``register_forward_hook``, so CAM methods cannot see a layer's
activation. How (TorchScript IR, ``torch._C`` graph API):

1. Copy ``forward``'s graph, inline every ``prim::CallMethod`` (``_jit_pass_inline``), and turn in-place
   ops functional where safe (``_jit_pass_remove_mutation``). Inlined nodes keep their module path
   (``Node.getModuleHierarchy()``, e.g. ``features(Sequential).block4(Block)``).
2. A layer's output is the last Tensor-producing node whose path lies inside the layer.
3. For taps t1 < t2 < ... (graph order) build segment i: a copy of the graph whose inputs are
   ``(self, x..., t1..t{i-1})``, where each earlier tap's value is replaced by its new input, and whose
   output is tap i's value (the last segment returns the original outputs); dead code is removed.
   Each segment becomes a function (``torch._C._create_function_from_graph``) called on the module.
4. :class:`TorchScriptTapModel` runs the segments in order and passes every tap value through a
   :class:`taps.Tap` registered under the layer's dotted name; the engine's hooks see and may replace it.
   ``segment_i(x, t1..)`` equals the original computation, so outputs and gradients are unchanged.

Values computed before a tap and used after it without passing through it (skip connections) are
recomputed from the input in the later segment: correct, at some extra cost.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from ..errors import ModelLoadError
from .taps import install_tap

_STEP = re.compile(r"([^.()]+)\(([^()]*)\)")
_ANONYMOUS = {"SELF", "UNKNOWN_INSTANCE"}
_UNNAMED = "INSTANCE_NAME_UNKNOWN"  # a traced call of a module shared by several parents


def module_path(node) -> list[tuple[str, str]]:
    """[(name, type)] of the modules a node of an inlined graph was called in, outermost first."""
    try:
        text = node.getModuleHierarchy()
    except RuntimeError:
        return []
    return [(n, t) for n, t in _STEP.findall(text or "") if n not in _ANONYMOUS]


class ModuleTree:
    """The script module's real sub-module tree: turns a node's call path into real dotted names.

    Why: the call path records only the modules whose ``forward`` ran. A parent indexed directly
    (``self.init[2](x)``) is missing from it (``2.0`` for the real ``init.2.0``), and a traced module
    reachable under two names is called ``INSTANCE_NAME_UNKNOWN``. Each step is matched against the
    children of the module reached so far, then against its deeper descendants, by name and type.
    """

    def __init__(self, script_module):
        self.types: dict[str, str] = {}
        for name, module in script_module.named_modules():
            if name:
                self.types[name] = getattr(module, "original_name", None) or type(module).__name__
        self.recorded: dict[str, str] = {}  # types of names found only in call paths
        self._cache: dict[tuple, tuple] = {}

    def _step(self, base: str, name: str, type_name: str) -> str | None:
        prefix = f"{base}." if base else ""
        under = [n for n in self.types if n.startswith(prefix)]
        same_type = [n for n in under if self.types[n] == type_name]
        if name != _UNNAMED:
            direct = prefix + name
            if direct in self.types:
                return direct
            found = [n for n in same_type if n.rsplit(".", 1)[-1] == name]
        else:
            found = same_type
        if not found:
            return None
        depth = min(n.count(".") for n in found)
        closest = [n for n in found if n.count(".") == depth]
        return closest[0] if len(closest) == 1 else None

    def resolve(self, steps: list[tuple[str, str]]) -> tuple[str, ...]:
        """The real dotted names of the modules on ``steps``' path, outermost first (ancestors included)."""
        key = tuple(steps)
        if key not in self._cache:
            names: list[str] = []
            base = ""
            for name, type_name in steps:
                real = self._step(base, name, type_name)
                if real is None:  # not in the tree (a frozen graph has none): keep the recorded name
                    if name == _UNNAMED:
                        break
                    real = f"{base}.{name}" if base else name
                    self.recorded.setdefault(real, type_name)
                names.extend(
                    a for a in _ancestors(real) if a.count(".") > (base.count(".") if base else -1) and a not in names
                )
                base = real
            self._cache[key] = tuple(names)
        return self._cache[key]

    def type_of(self, name: str) -> str:
        return self.types.get(name) or self.recorded.get(name, "Module")


def _ancestors(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _inlined_graph(script_module):
    graph = script_module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    torch._C._jit_pass_remove_mutation(graph)
    return graph


def _is_tensor(value) -> bool:
    return value.type().kind() == "TensorType"


def _tensor_nodes(nodes, tree: ModuleTree):
    """(index, real dotted names of the modules it ran in) for every Tensor-producing node."""
    for index, node in enumerate(nodes):
        if node.outputsSize() != 1 or not _is_tensor(node.output()) or node.kind() == "prim::GetAttr":
            continue
        yield index, tree.resolve(module_path(node))


def layer_paths(script_module) -> dict[str, str]:
    """Real dotted layer name (as in ``named_modules``) -> type name, for every module that produced a
    Tensor in forward's graph."""
    tree = ModuleTree(script_module)
    found: dict[str, str] = {}
    for _, names in _tensor_nodes(list(_inlined_graph(script_module).nodes()), tree):
        for name in names:
            found.setdefault(name, tree.type_of(name))
    return found


def _tap_index(nodes, layer: str, tree: ModuleTree) -> int:
    """Position of the node producing ``layer``'s output in the inlined graph's node list."""
    best = -1
    for index, names in _tensor_nodes(nodes, tree):
        if layer in names:
            best = index
    return best


def _segment(graph, tap_indices: list[int], upto: int | None):
    """Copy of ``graph`` taking earlier taps as inputs and returning tap ``upto`` (None: the original)."""
    seg = graph.copy()
    nodes = list(seg.nodes())
    for index in tap_indices:
        value = nodes[index].output()
        new_input = seg.addInput(f"tap{index}")
        new_input.setType(value.type())
        value.replaceAllUsesWith(new_input)
    if upto is not None:
        while len(list(seg.outputs())):
            seg.eraseOutput(0)
        seg.registerOutput(nodes[upto].output())
    torch._C._jit_pass_dce(seg)
    return seg


class TorchScriptTapModel(nn.Module):
    """A ScriptModule whose chosen layers' outputs pass through hookable :class:`taps.Tap` modules.

    ``layers=None`` taps every layer found in the graph, so the layer table is complete.
    """

    def __init__(self, script_module, layers: list[str] | None = None):
        super().__init__()
        object.__setattr__(self, "script", script_module)  # hidden: ScriptModules refuse hooks
        types = layer_paths(script_module)
        tree = ModuleTree(script_module)
        graph = _inlined_graph(script_module)
        nodes = list(graph.nodes())
        by_index: dict[int, list[str]] = {}
        for layer in dict.fromkeys(types if layers is None else layers):
            index = _tap_index(nodes, layer, tree)
            if index < 0:
                known = ", ".join(sorted(types)[:30])
                raise ModelLoadError(
                    f"The TorchScript model has no layer '{layer}' that produces a tensor in forward "
                    f"(layers found: {known}). Pick one of those, or use a gradient/perturbation method, or "
                    "load the weights as a state dict with an architecture in the card (or a torch.export .pt2)."
                )
            by_index.setdefault(index, []).append(layer)
        indices = sorted(by_index)
        # Layers ending on the same value are chained innermost first, as eager hooks would fire.
        self.tap_names = [sorted(by_index[i], key=lambda n: -n.count(".")) for i in indices]
        self._segments = []
        try:
            for i, index in enumerate(indices + [None]):
                seg = _segment(graph, indices[:i], index)
                self._segments.append(torch._C._create_function_from_graph(f"saliency_segment_{i}", seg))
        except RuntimeError as exc:
            raise ModelLoadError(
                f"Could not cut the TorchScript graph at {sum(self.tap_names, [])}: {exc}. Gradient and "
                "perturbation methods still work on this file (no layers needed); for CAMs, load a state dict "
                "with an architecture in the model card, or export with torch.export (.pt2)."
            ) from exc
        self._taps = [[install_tap(self, n, types.get(n, "Tap")) for n in names] for names in self.tap_names]

    def forward(self, *inputs):
        tapped = []
        for segment, taps in zip(self._segments, self._taps):
            value = segment(self.script._c, *inputs, *tapped)
            for tap in taps:
                value = tap(value)
            tapped.append(value)
        return self._segments[-1](self.script._c, *inputs, *tapped)

    # The hidden script module still owns the weights: expose them, follow mode and device changes.
    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self.script.named_parameters(prefix=prefix, recurse=recurse)

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self.script.named_buffers(prefix=prefix, recurse=recurse)

    def train(self, mode: bool = True):
        super().train(mode)
        self.script.train(mode)
        return self

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self.script._apply(fn)
        return self


def hooks_refused(script_module) -> bool:
    """True when this ScriptModule refuses forward hooks (the reason this module exists)."""
    try:
        handle = script_module.register_forward_hook(lambda *a: None)
    except (RuntimeError, AttributeError, TypeError):
        return True
    handle.remove()
    return False
