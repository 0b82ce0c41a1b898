"""Target layers: resolving dotted names, listing every layer with its output shape, the default choice."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import SaliencyError
from .hooks import LayerCapture, select_element
from .model_call import call_model
from .model_guard import guarded
from .tokens import infer_grid, is_token_output


@dataclass
class LayerInfo:
    """One row of the layer table a user picks a target layer from."""

    name: str
    type: str
    output_shape: tuple | None
    cam_capable: bool
    is_default: bool = False
    calls: int = 1  # forward calls per model forward: a module reused (EfficientNet's `_swish`) has several
    reason: str = ""  # why this row is the default, or why it is not CAM-capable / never proposed

    def __str__(self):
        mark = "*" if self.is_default else " "
        cam = "cam" if self.cam_capable else "   "
        note = f"  ({self.reason})" if self.reason and not self.is_default else ""
        return f"{mark} {self.name:<40} {self.type:<24} {cam} {self.output_shape}{note}"


class LayerTable(list):
    """The rows of `trace_layers` in execution order, with the model's output shape and batch size."""

    output_shape: tuple | None = None
    batch: int = 1
    spatial_shape: tuple = ()
    default_reason: str = ""
    paths: dict = {}  # name -> every path of that module (a module registered twice has several)


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called `name`, with or without a DataParallel `module.` prefix."""
    candidates = [name]
    if name.startswith("module."):
        candidates.append(name[len("module.") :])
    else:
        candidates.append("module." + name)
    for candidate in candidates:  # the quick path: a walk down the name (no listing of every module)
        try:
            if candidate:
                return model.get_submodule(candidate)
        except AttributeError:
            pass
    modules = dict(model.named_modules())
    for candidate in candidates:
        if candidate in modules and candidate != "":
            return modules[candidate]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f" Closest names: {', '.join(close)}." if close else ""
    raise SaliencyError(
        f"The model has no layer named '{name}'.{hint} Use list_layers(model, x) (CLI: `layers`) to see them all."
    )


def resolve_layers(model: nn.Module, layers) -> list[tuple[str, nn.Module]]:
    """Names (a string or a list) -> [(name, module)]; nn.Module objects are accepted too."""
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    accepted = "a layer name (str), an nn.Module of the model, or a list of those"
    if not isinstance(layers, (list, tuple)):
        raise SaliencyError(f"layers={layers!r} ({type(layers).__name__}): give {accepted}.")
    for layer in layers:
        if not isinstance(layer, (str, nn.Module)):
            raise SaliencyError(f"layer {layer!r} ({type(layer).__name__}) in layers: give {accepted}.")
    resolved = []
    names = {m: n for n, m in model.named_modules()} if any(isinstance(x, nn.Module) for x in layers) else {}
    for layer in layers:
        if isinstance(layer, nn.Module):
            if layer not in names:
                raise SaliencyError("The layer object given is not part of this model.")
            resolved.append((names[layer], layer))
        else:
            resolved.append((str(layer), resolve_layer(model, str(layer))))
    if not resolved:
        raise SaliencyError("No target layer given; pass layers=None to use the default layer.")
    return resolved


def _proportional(grid, spatial_shape) -> bool:
    """Is `grid` the input's grid shrunk by one whole factor on every axis (a feature map of it)?"""
    if len(grid) != len(spatial_shape) or any(g < 1 or s % g for g, s in zip(grid, spatial_shape)):
        return False
    return len({s // g for g, s in zip(grid, spatial_shape)}) == 1


def channels_last(shape, spatial_shape) -> bool:
    """(N, *grid, C) rather than (N, C, *grid): the last axes, not the first, are the input's grid shrunk
    (Swin blocks inside a stage work channels-last). Ambiguous shapes count as channels-first."""
    dims = len(spatial_shape)
    return (
        len(shape) == dims + 2
        and not _proportional(shape[2:], spatial_shape)
        and _proportional(shape[1:-1], spatial_shape)
    )


def _spatial_ok(shape, spatial_shape, batch: int | None = None) -> bool:
    """A CAM needs an output with spatial extent: (N, C, *s) with some s > 1, or a token grid, whose first
    axis is the batch (window-partitioned attention puts windows x batch there: not a map of the input)."""
    dims = len(spatial_shape)
    if batch is not None and shape and shape[0] != batch:
        return False
    if channels_last(shape, spatial_shape):
        return False
    if len(shape) == dims + 2:
        return any(s > 1 for s in shape[2:])
    if is_token_output(shape, dims):
        return infer_grid(shape[1], spatial_shape) is not None
    return False


def trace_layers(model: nn.Module, x: torch.Tensor, element=None) -> LayerTable:
    """Every named module in the order its forward finished, with its output shape and how many times it
    ran (one forward pass)."""
    spatial_shape = tuple(x.shape[2:])
    batch = int(x.shape[0])
    infos: dict[str, LayerInfo] = {}
    order: list[str] = []
    handles = []

    def make_hook(name, module):
        def hook(mod, inputs, output):
            try:
                value = select_element(output, element)
                shape = tuple(value.shape)
            except SaliencyError:
                shape = None
            calls = infos[name].calls + 1 if name in infos else 1
            info = LayerInfo(
                name,
                type(module).__name__,
                shape,
                shape is not None and _spatial_ok(shape, spatial_shape, batch),
                calls=calls,
            )
            if shape is not None and shape and shape[0] != batch and len(shape) >= 3:
                info.reason = (
                    f"first axis {shape[0]} is not the batch ({batch}): window-partitioned "
                    "(Swin-style) or sequence-first output, not a map of the input"
                )
            elif shape is not None and channels_last(shape, spatial_shape):
                info.reason = "channels-last output (N, *grid, C): not read as a feature map"
            elif calls > 1:
                info.reason = (
                    f"called {calls} times per forward (one module reused): a CAM sees its last "
                    "call; never the default, refused by methods that replace its output"
                )
            infos[name] = info
            if name in order:
                order.remove(name)
            order.append(name)

        return hook

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name, module)))
        with guarded(model), torch.no_grad():
            output = call_model(model, x)  # a model that refuses the input: a SaliencyError, as in explain()
    finally:
        for handle in handles:
            handle.remove()
    never_ran = [
        LayerInfo(n, type(m).__name__, None, False, reason="did not run on this input")
        for n, m in model.named_modules()
        if n and n not in infos
    ]
    table = LayerTable([infos[n] for n in order] + never_ran)
    table.batch, table.spatial_shape = batch, spatial_shape
    aliases: dict[int, list[str]] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        aliases.setdefault(id(module), []).append(path)
    table.paths = {n: aliases.get(id(m), [n]) for n, m in model.named_modules() if n}
    if isinstance(output, torch.Tensor):
        table.output_shape = tuple(output.shape)
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        table.output_shape = tuple(output[0].shape)
    return table


def _is_inside(name: str, parent: str, paths: dict | None = None) -> bool:
    """Is module `name` (under any of its paths) inside module `parent`?"""
    return any(path.startswith(parent + ".") for path in (paths or {}).get(name, [name]))


def _output_head(infos: list[LayerInfo], output_shape) -> tuple[set, list[str]]:
    """For a dense (segmentation) output: the trailing layers whose output has the output's shape, and the
    head containers among them (those that do not also hold the network's first layer)."""
    ran = [info for info in infos if info.output_shape is not None]
    trailing = []
    for info in reversed(ran):
        if info.output_shape != output_shape:
            break
        trailing.append(info.name)
    first = ran[0].name if ran else ""
    heads = [name for name in trailing if not _is_inside(first, name)]
    return set(trailing), heads


def default_layer_name(infos: list[LayerInfo]) -> str | None:
    """The default target layer (its reason in ``infos.default_reason`` when `infos` is a LayerTable).

    Classification: the last layer (in execution order) with spatial output, the one just before global
    pooling. A dense output (N, K, *input grid), i.e. segmentation: the last stage before the output head,
    since the head's map (the logits, or for MONAI's UNet the whole network) only repeats the prediction.
    A module called several times per forward is never proposed (a CAM would see only its last call,
    and replacing its output changes every use)."""
    capable = [info for info in infos if info.cam_capable and info.calls == 1]
    output_shape = getattr(infos, "output_shape", None)
    spatial = tuple(getattr(infos, "spatial_shape", ()))
    reason = "the last layer with spatial output before global pooling"
    if output_shape is not None and len(output_shape) >= 3 and tuple(output_shape[2:]) == spatial and capable:
        trailing, heads = _output_head(infos, output_shape)
        paths = getattr(infos, "paths", None)
        kept = [
            info
            for info in capable
            if info.name not in trailing and not any(_is_inside(info.name, head, paths) for head in heads)
        ]
        if kept:
            head = min(heads, key=len) if heads else (sorted(trailing, key=len)[-1] if trailing else "the output")
            capable = kept
            reason = (
                f"segmentation output {tuple(output_shape)}: the output head '{head}' only repeats the "
                f"prediction, so the default is the last stage before it"
            )
    reused = [info.name for info in infos if info.cam_capable and info.calls > 1]
    if capable and reused and infos.index(capable[-1]) < max(infos.index(i) for i in infos if i.name in reused):
        reason += (
            f" ('{reused[-1]}' comes later but is called {max(i.calls for i in infos if i.name in reused)} "
            "times per forward)"
        )
    if hasattr(infos, "default_reason"):
        infos.default_reason = reason if capable else ""
    return capable[-1].name if capable else None


def _spatial_tokens_get_gradient(model, x, element, infos: list[LayerInfo]) -> dict[str, bool]:
    """For token layers: does the output's gradient reach the spatial tokens (not only the class token)?
    One forward + backward with every layer in `infos` captured; the score is the sum of the outputs."""
    modules = dict(model.named_modules())
    layers = [(info.name, modules[info.name]) for info in infos]
    result = {}
    with guarded(model), torch.no_grad():
        with LayerCapture(layers, element, need_grad=True) as cap:
            output = call_model(model, x)
        value = output if isinstance(output, torch.Tensor) else select_element(output, None)
        names = [n for n, _ in layers if n in cap.outputs]
        if not value.requires_grad or not names:
            return result
        grads = torch.autograd.grad(value.float().sum(), [cap.outputs[n] for n in names], allow_unused=True)
    for info, name, grad in zip(infos, names, grads):
        found = infer_grid(info.output_shape[1], tuple(x.shape[2:]))
        extra = found[1] if found else 0
        result[name] = grad is not None and bool(grad[:, extra:].abs().sum() > 0)
    return result


def default_layer(model: nn.Module, x: torch.Tensor, element=None) -> tuple[str | None, str, LayerTable]:
    """(name, why, table): `default_layer_name` on a traced forward, then, for a class-token transformer
    (tokens with leading non-spatial tokens), a walk back through the layers of the same token stream to
    the last one whose spatial tokens receive gradient: after the final norm only the class token reaches
    the head, so every gradient CAM there is 0 (pytorch-grad-cam's ViT guide uses `blocks[-1].norm1`)."""
    table = trace_layers(model, x, element)
    name = default_layer_name(table)
    reason = table.default_reason
    info = next((i for i in table if i.name == name), None)
    if info is None or len(info.output_shape) != 3:
        return name, reason, table
    found = infer_grid(info.output_shape[1], tuple(x.shape[2:]))
    if not found or found[1] == 0:
        return name, reason, table
    index = table.index(info)
    same = [i for i in table[: index + 1] if i.output_shape == info.output_shape and i.cam_capable and i.calls == 1]
    try:
        flows = _spatial_tokens_get_gradient(model, x, element, same)
    except (SaliencyError, RuntimeError):
        return name, reason, table
    for candidate in reversed(same):
        if flows.get(candidate.name):
            if candidate.name != name:
                reason = (
                    f"class-token transformer: after '{candidate.name}' only the class token reaches the "
                    f"head ('{name}' gets zero gradient on every spatial token), so the default is the "
                    f"last layer of the token stream whose tokens all receive gradient"
                )
            return candidate.name, reason, table
    return name, reason, table


def layers_that_work(model: nn.Module, x: torch.Tensor, near: str, element=None, count: int = 3) -> list[str]:
    """Up to `count` CAM-capable layers (called once) closest to `near` by name, and the default layer."""
    default, _, table = default_layer(model, x, element)
    good = [info.name for info in table if info.cam_capable and info.calls == 1]

    def shared(name):
        return len(os.path.commonprefix([name, near]))

    picks = sorted(good, key=lambda n: (-shared(n), -good.index(n)))[:count]
    if default and default not in picks:
        picks.append(f"{default} (the default)")
    return picks or ["none found; use a gradient or perturbation method"]


#: Submodules torch adds to an unflattened ``torch.export`` program (its shape guards): not layers of the model.
TORCH_INTERNAL = frozenset({"_guards_fn"})


def list_layers(model: nn.Module, example_input, element=None) -> list[LayerInfo]:
    """Every layer with its type and output shape, CAM-capable ones marked, the proposed default flagged."""
    x = torch.as_tensor(example_input)
    if x.dim() not in (3, 4, 5):
        raise SaliencyError(
            f"example_input must be (N, C, *spatial) with 1-3 spatial dims; got shape {tuple(x.shape)}."
        )
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    default, reason, infos = default_layer(model, x.to(device), element)
    infos = [info for info in infos if info.name.rsplit(".", 1)[-1] not in TORCH_INTERNAL]
    for info in infos:
        info.is_default = info.name == default
        if info.is_default:
            info.reason = reason
    return infos
