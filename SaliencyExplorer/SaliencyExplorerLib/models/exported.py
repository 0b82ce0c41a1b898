"""``torch.export`` programs (.pt2) made hookable: each layer's output re-emitted through a Tap module.

Why: ``torch.export.load(path).module()`` is a flat ``GraphModule``; the sub-modules it keeps only hold
weights and never run, so forward hooks on them never fire. Every node records the modules it was traced
in (``node.meta["nn_module_stack"]``: key -> (dotted name, type)). For each layer we find the LAST node
computed inside it (its output), insert a ``call_module`` node to a :class:`taps.Tap` registered under
the layer's dotted name right after it, and point every later use at the tap. Downstream nodes consume
the tap's output, so hooks can read it, its gradient, and replace it. Nested layers ending on the same
node are chained innermost first, as eager hooks would fire.
"""

from __future__ import annotations

import re

import torch
from torch import fx

from ..errors import ModelLoadError
from .taps import install_tap

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")


def _stack(node) -> list[tuple[str, str]]:
    """[(dotted name, type)] of the modules a node ran in, outermost first, root excluded."""
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for value in stack.values():
        name, type_name = value if isinstance(value, tuple) else (value, "")
        name = str(name)
        if name.startswith("L['self']."):
            name = name[len("L['self'].") :]
        if name and name not in ("L['self']", "self"):
            out.append((name, type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")))
    return out


def layer_outputs(gm: fx.GraphModule) -> dict[str, tuple[fx.Node, str]]:
    """Dotted layer name -> (the last tensor node computed in it, its type name)."""
    found: dict[str, tuple[fx.Node, str]] = {}
    for node in gm.graph.nodes:
        if node.op not in ("call_function", "call_method", "call_module") or node.target == "_guards_fn":
            continue
        value = node.meta.get("val")
        if value is not None and not isinstance(value, torch.Tensor):
            continue
        for name, type_name in _stack(node):
            name = name.split("@")[0]
            if _PLAIN_NAME.fullmatch(name):  # it becomes a module name in generated code: never a quote
                found[name] = (node, type_name)
    return found


def tap_exported(program, layers: list[str] | None = None, check_guards: bool = False) -> fx.GraphModule:
    """``program.module()`` with Taps after the given layers (None: every layer recorded in the graph).

    ``check_guards=False`` (the default, and always without the opt-in): torch does not compile the program's
    ``guards_code`` into a ``_guards_fn`` (that is ``exec`` of strings from the file); input sizes are still
    checked against the range constraints by torch's pre-forward hook."""
    gm = program.module(check_guards=check_guards)
    outputs = layer_outputs(gm)
    wanted = list(outputs) if layers is None else list(dict.fromkeys(layers))
    missing = [name for name in wanted if name not in outputs]
    if missing:
        raise ModelLoadError(
            f"The exported program has no layer {missing} (layers recorded: {', '.join(sorted(outputs)[:30])}). "
            "Pick one of those, or use a gradient/perturbation method."
        )
    by_node: dict[fx.Node, list[str]] = {}
    for name in wanted:
        by_node.setdefault(outputs[name][0], []).append(name)
    for node, names in by_node.items():
        current = node
        for name in sorted(names, key=lambda n: -n.count(".")):
            install_tap(gm, name, outputs[name][1])
            with gm.graph.inserting_after(current):
                tap_node = gm.graph.call_module(name, (current,))
            tap_node.meta = dict(node.meta)
            current.replace_all_uses_with(tap_node, delete_user_cb=lambda user, t=tap_node: user is not t)
            current = tap_node
    gm.graph.lint()
    gm.recompile()
    return gm
