"""Target layers: resolving dotted names, listing every layer with its output shape, the default choice."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import SaliencyError
from .hooks import select_element
from .model_guard import guarded
from .run import call_model
from .tokens import infer_grid, is_token_output


@dataclass
class LayerInfo:
    """One row of the layer table a user picks a target layer from."""

    name: str
    type: str
    output_shape: tuple | None
    cam_capable: bool
    is_default: bool = False

    def __str__(self):
        mark = "*" if self.is_default else " "
        cam = "cam" if self.cam_capable else "   "
        return f"{mark} {self.name:<40} {self.type:<24} {cam} {self.output_shape}"


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called `name`, with or without a DataParallel `module.` prefix."""
    modules = dict(model.named_modules())
    candidates = [name]
    if name.startswith("module."):
        candidates.append(name[len("module."):])
    else:
        candidates.append("module." + name)
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
    names = {m: n for n, m in model.named_modules()}
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


def _spatial_ok(shape, spatial_shape) -> bool:
    """A CAM needs an output with spatial extent: (N, C, *s) with some s > 1, or a token grid."""
    dims = len(spatial_shape)
    if len(shape) == dims + 2:
        return any(s > 1 for s in shape[2:])
    if is_token_output(shape, dims):
        return infer_grid(shape[1], spatial_shape) is not None
    return False


def trace_layers(model: nn.Module, x: torch.Tensor, element=None) -> list[LayerInfo]:
    """Every named module in the order its forward finished, with its output shape (one forward pass)."""
    spatial_shape = tuple(x.shape[2:])
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
            infos[name] = LayerInfo(name, type(module).__name__, shape,
                                    shape is not None and _spatial_ok(shape, spatial_shape))
            if name in order:
                order.remove(name)
            order.append(name)
        return hook

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name, module)))
        with guarded(model), torch.no_grad():
            call_model(model, x)  # a model that refuses the input: a SaliencyError, as in explain()
    finally:
        for handle in handles:
            handle.remove()
    never_ran = [LayerInfo(n, type(m).__name__, None, False) for n, m in model.named_modules() if n and n not in infos]
    return [infos[n] for n in order] + never_ran


def default_layer_name(infos: list[LayerInfo]) -> str | None:
    """The last layer (in execution order) with spatial output: the one just before global pooling."""
    capable = [info for info in infos if info.cam_capable]
    return capable[-1].name if capable else None


def list_layers(model: nn.Module, example_input, element=None) -> list[LayerInfo]:
    """Every layer with its type and output shape, CAM-capable ones marked, the proposed default flagged."""
    x = torch.as_tensor(example_input)
    if x.dim() not in (3, 4, 5):
        raise SaliencyError(f"example_input must be (N, C, *spatial) with 1-3 spatial dims; got shape {tuple(x.shape)}.")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    infos = trace_layers(model, x.to(device), element)
    default = default_layer_name(infos)
    for info in infos:
        info.is_default = info.name == default
    return infos
