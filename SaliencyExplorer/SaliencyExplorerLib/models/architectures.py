"""Building the network a state dict belongs to, from the card's ``architecture`` entry.

Why: a state dict is only numbers; the card names the class. Two forms are accepted:
``"package.module.ClassName"`` (an installed ``torch.nn.Module`` subclass, e.g.
``monai.networks.nets.DenseNet121``) and ``"file.py:ClassName"`` (a file next to the card). Anything that
is not an ``nn.Module`` subclass is refused, so a card cannot make us call arbitrary functions.

Safety: importing a module runs its code, so a dotted name is checked against :data:`ALLOWED_MODULES`
*before* anything is imported (``"this.Net"`` would print the Zen of Python on import); a ``file.py`` is
code from wherever the card came from. Both need the one opt-in, ``trust_code=True`` (CLI
``--trust-code``), and a ``file.py`` must lie inside the card's folder even then (no ``..``, no absolute
path, symlinks resolved).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from torch import nn

from ..errors import CardError, ModelLoadError
from .network_build import build_from_args

# Model libraries a card may name without the opt-in: their import has no side effects beyond defining
# networks, and they are what medical models are built from.
ALLOWED_MODULES = ("SaliencyExplorerLib.demo.network", "monai.networks.nets", "dynamic_network_architectures")
OPT_IN = "trust_code=True (CLI: --trust-code)"


def module_allowed(module_name: str) -> bool:
    """True if ``module_name`` is one of :data:`ALLOWED_MODULES` or inside one (no dunder parts)."""
    parts = module_name.split(".")
    if not all(p.isidentifier() and not p.startswith("__") for p in parts):
        return False
    return any(module_name == a or module_name.startswith(a + ".") for a in ALLOWED_MODULES)


def resolve_class(spec: str, card_dir: Path | None, trust_code: bool = False) -> type:
    """The nn.Module subclass named by ``spec`` (dotted path or ``file.py:ClassName``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise CardError(
            'architecture.class must be a non-empty string such as "monai.networks.nets.DenseNet121" '
            'or "mynet.py:MyNet".'
        )
    spec = spec.strip()
    if ":" in spec:
        file_part, _, class_name = spec.rpartition(":")
        obj = _class_from_file(file_part, class_name, card_dir, trust_code)
    else:
        module_name, _, class_name = spec.rpartition(".")
        if not module_name:
            raise CardError(f'architecture.class "{spec}" needs a module path, e.g. "monai.networks.nets.{spec}".')
        if not all(p.isidentifier() for p in spec.split(".")):
            raise CardError(
                f'architecture.class "{spec}" is not a dotted Python name such as "monai.networks.nets.DenseNet121".'
            )
        if not trust_code and not module_allowed(module_name):  # checked BEFORE importing anything
            raise ModelLoadError(
                f'architecture.class "{spec}" is outside the model libraries a card may name without the opt-in '
                f"({', '.join(ALLOWED_MODULES)}): importing {module_name} runs its code. If you trust this "
                f"card, pass {OPT_IN}."
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelLoadError(
                f'Cannot import "{module_name}" for architecture.class "{spec}": {exc}. '
                "Install the package that provides it, or fix the name in the card."
            ) from exc
        obj = getattr(module, class_name, None)
        if obj is None:
            raise ModelLoadError(
                f'"{module_name}" has no class "{class_name}" (architecture.class "{spec}"). Fix the name in the card.'
            )
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise ModelLoadError(
            f'architecture.class "{spec}" is not a torch.nn.Module subclass; only network '
            "classes may be named in a card."
        )
    return obj


def _class_from_file(file_part: str, class_name: str, card_dir: Path | None, trust_code: bool = False):
    base = (card_dir if card_dir is not None else Path.cwd()).resolve()
    if Path(file_part).is_absolute() or ".." in Path(file_part).parts:
        raise ModelLoadError(
            f'architecture.class names "{file_part}", outside the card\'s folder {base}: a '
            "file.py must lie in the card's folder (a relative path without '..'). Move the "
            "file there."
        )
    path = (base / file_part).resolve()
    if not path.is_relative_to(base):
        raise ModelLoadError(
            f'architecture.class names "{file_part}", which resolves to {path}, outside the '
            f"card's folder {base} (a symlink?). Put the real file in the card's folder."
        )
    if not trust_code:
        raise ModelLoadError(
            f'architecture.class "{file_part}:{class_name}" runs the Python file {path}. If you '
            f"trust it, pass {OPT_IN}; or name a class from {', '.join(ALLOWED_MODULES)}."
        )
    if path.suffix != ".py" or not path.is_file():
        raise ModelLoadError(
            f'architecture.class names "{file_part}", which is not a .py file next to the card '
            f"(looked for {path}). Put the file there or use a dotted import path."
        )
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


def build_network(architecture: dict, card_dir: Path | None, trust_code: bool = False) -> nn.Module:
    """Instantiate ``architecture["class"](**architecture["kwargs"])``."""
    if not isinstance(architecture, dict) or "class" not in architecture:
        raise CardError('The card needs "architecture": {"class": "...", "kwargs": {...}} to load a state dict.')
    kwargs = architecture.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CardError("architecture.kwargs must be an object of keyword arguments.")
    cls = resolve_class(architecture["class"], card_dir, trust_code)
    try:  # no downloads, then the size on the meta device, then the build (network_build)
        return build_from_args(
            cls, kwargs, "architecture.kwargs", "Fix architecture.kwargs in the card.", trust_code=trust_code
        )
    except TypeError as exc:
        raise ModelLoadError(f"{cls.__name__}(**{kwargs}) failed: {exc}. Fix architecture.kwargs in the card.") from exc
