"""Building the network a state dict belongs to, from the card's ``architecture`` entry.

Why: a state dict is only numbers; the card names the class. Two forms are accepted:
``"package.module.ClassName"`` (an installed ``torch.nn.Module`` subclass, e.g.
``monai.networks.nets.DenseNet121``) and ``"file.py:ClassName"`` (a file next to the card). Anything that
is not an ``nn.Module`` subclass is refused, so a card cannot make us call arbitrary functions.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from torch import nn

from ..errors import CardError, ModelLoadError


def resolve_class(spec: str, card_dir: Path | None) -> type:
    """The nn.Module subclass named by ``spec`` (dotted path or ``file.py:ClassName``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise CardError('architecture.class must be a non-empty string such as "monai.networks.nets.DenseNet121" '
                        'or "mynet.py:MyNet".')
    spec = spec.strip()
    if ":" in spec:
        file_part, _, class_name = spec.rpartition(":")
        obj = _class_from_file(file_part, class_name, card_dir)
    else:
        module_name, _, class_name = spec.rpartition(".")
        if not module_name:
            raise CardError(f'architecture.class "{spec}" needs a module path, e.g. "monai.networks.nets.{spec}".')
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelLoadError(f'Cannot import "{module_name}" for architecture.class "{spec}": {exc}. '
                                 "Install the package that provides it, or fix the name in the card.") from exc
        obj = getattr(module, class_name, None)
        if obj is None:
            raise ModelLoadError(f'"{module_name}" has no class "{class_name}" (architecture.class "{spec}"). '
                                 "Fix the name in the card.")
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise ModelLoadError(f'architecture.class "{spec}" is not a torch.nn.Module subclass; only network '
                             "classes may be named in a card.")
    return obj


def _class_from_file(file_part: str, class_name: str, card_dir: Path | None):
    base = card_dir if card_dir is not None else Path.cwd()
    path = (base / file_part).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ModelLoadError(f'architecture.class names "{file_part}", which is not a .py file next to the card '
                             f"(looked for {path}). Put the file there or use a dotted import path.")
    module_name = f"_saliency_arch_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report whatever went wrong in it
        del sys.modules[module_name]
        raise ModelLoadError(f"Running {path} to define {class_name} failed: {exc!r}. Fix that file.") from exc
    obj = getattr(module, class_name, None)
    if obj is None:
        raise ModelLoadError(f'{path} defines no "{class_name}". Fix architecture.class in the card.')
    return obj


def build_network(architecture: dict, card_dir: Path | None) -> nn.Module:
    """Instantiate ``architecture["class"](**architecture["kwargs"])``."""
    if not isinstance(architecture, dict) or "class" not in architecture:
        raise CardError('The card needs "architecture": {"class": "...", "kwargs": {...}} to load a state dict.')
    kwargs = architecture.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CardError("architecture.kwargs must be an object of keyword arguments.")
    cls = resolve_class(architecture["class"], card_dir)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ModelLoadError(f"{cls.__name__}(**{kwargs}) failed: {exc}. Fix architecture.kwargs in the card.") from exc
