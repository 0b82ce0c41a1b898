"""Loading a model file into an ``nn.Module`` the engine can hook: state dict, TorchScript, export, pickle.

Why one door: every front end (CLI, Slicer, Python) must load models the same way, refuse the same unsafe
files, and give the same errors. Routes (``LoadedModel.kind``):

- ``state_dict``: ``.pt/.pth/.ckpt`` holding tensors (also a Lightning checkpoint's ``state_dict`` and
  DataParallel ``module.`` prefixes), read with ``weights_only=True``; the card's ``architecture`` names
  the class. Missing or unexpected keys are listed by name.
- ``torchscript``: ``torch.jit.save`` archives; layers made hookable by ``torchscript``.
- ``export``: ``torch.export.save`` programs (``.pt2``); layers made hookable by ``exported``.
- ``pickle``: a whole pickled module, only with ``trust_code=True`` (unpickling runs code).

Before any torch loader sees a file, ``file_safety.check_file_safe`` inspects it without unpickling
(whatever its suffix): a damaged file gets its own message, a file that could run code is refused unless
``trust_code=True`` (CLI ``--trust-code``; ``trust_pickle`` is an alias). Without the opt-in every
``torch.load`` runs weights-only.

See ``docs/model-files.md``.
"""

from __future__ import annotations

import copy
import os
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..card import ModelCard, find_card_for, load_card
from ..core.model_call import short_reason
from ..core.resources import check_device
from ..errors import CardError, ModelLoadError
from ..file_hash import file_sha256
from .architectures import build_network
from .exported import tap_exported
from .file_safety import check_file_safe, explain_load_error, load_export_safely
from .folders import load_folder
from .torchscript import TorchScriptTapModel

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network")
PREFIXES = ("", "module.", "model.", "net.", "model.module.", "_orig_mod.")


@dataclass
class LoadedModel:
    """A model ready for the engine (eval mode), with where it came from."""

    module: nn.Module
    card: object
    kind: str
    sha256: str
    path: Path
    notes: list[str] = field(default_factory=list)


# ---- the card ------------------------------------------------------------------------------------------
def read_card(card, model_path: Path) -> ModelCard | None:
    """The card for ``card`` (path, dict or ModelCard), or the one beside the model file, or None."""
    if card is None:
        card = find_card_for(model_path)
    return None if card is None else load_card(card)


def card_dir(card_arg, card, model_path: Path) -> Path:
    """Where ``file.py:Class`` architectures are looked for: the card's folder (else the model's)."""
    where = getattr(card, "path", None) or (card_arg if isinstance(card_arg, (str, Path)) else None)
    return Path(where).resolve().parent if where else model_path.resolve().parent


def load_model(
    path, card=None, *, trust_code=False, trust_pickle=False, device=None, layers=None, check=True
) -> LoadedModel:
    """Load ``path`` (+ its card) into an eval-mode ``nn.Module`` the engine can hook.

    ``trust_code``: allow what runs code -- a pickled model, a file the safety check refuses, a card
    architecture outside the allow-list or a ``file.py:Class`` (``trust_pickle`` is an alias).
    ``layers``: for TorchScript/export files, the layers to make hookable (None: all). ``check``: run one
    forward on a zero input of the card's size to catch a model that does not match its card.
    """

    trust = bool(trust_code or trust_pickle)
    path = Path(path)
    if path.is_dir():  # nnU-Net v2 trained-model folders and MONAI bundles (models/folders.py)
        module, card_obj, kind, sha, notes = load_folder(
            path, None if card is None else load_card(card), trust_code=trust, device=device
        )
        loaded = LoadedModel(module, card_obj, kind, sha, path, notes)
        if check and card_obj is not None:
            check_against_card(loaded)
        return loaded
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist or is not a file. Check the path.")
    device = torch.device(check_device(device or "cpu"))
    inspection = check_file_safe(path, trust)  # before anything is unpickled, whatever the suffix
    card_obj = read_card(card, path)  # after: an image given as the model is named as such, not by its .json
    kind = inspection.kind
    notes: list[str] = []
    if kind == "torchscript":
        module = _load_torchscript(path, card_obj, device, layers, notes)
    elif kind == "export":
        module = _load_export(path, card_obj, device, layers, trust)
    else:
        module, kind = _load_torch_save(
            path, card_obj, card_dir(card, card_obj, path), trust, device, plain=not inspection.problems
        )
    module.eval()
    loaded = LoadedModel(module, card_obj, kind, file_sha256(path), path, notes)
    if check and card_obj is not None:
        check_against_card(loaded)
    return loaded


def resolve_model(
    model, card=None, device=None, *, trust_code=False, trust_pickle=False
) -> tuple[nn.Module, ModelCard | None]:
    """(nn.Module, card) from a module or a model file (the card beside it when none is given).

    A module asked onto another device is copied there: the caller's model is never changed.
    """
    if isinstance(model, torch.nn.Module):
        if device is not None:
            current = next((t.device for t in model.parameters()), torch.device("cpu"))
            if current != torch.device(device):
                model = copy.deepcopy(model).to(device)
        return model, card
    if isinstance(model, (str, os.PathLike)):
        loaded = load_model(model, card, trust_code=trust_code or trust_pickle, device=device)
        return loaded.module, loaded.card
    raise ModelLoadError(f"model must be a torch.nn.Module or a model file path, not {type(model).__name__}.")


def _load_torchscript(path, card, device, layers, notes):

    try:
        script = torch.jit.load(str(path), map_location=device)
    except RuntimeError as exc:
        raise ModelLoadError(explain_load_error(path, exc)) from None
    script.eval()
    try:
        return TorchScriptTapModel(script, layers)
    except ModelLoadError as exc:
        target = card.target_layer if card is not None else None
        if layers is not None or not target:
            raise
        targets = [target] if isinstance(target, str) else list(target)
        notes.append(f"only {targets} are hookable: {exc}")
        return TorchScriptTapModel(script, targets)


def _load_export(path, card, device, layers, trust=False):

    try:
        program = load_export_safely(path, trust)
    except ModelLoadError:
        raise
    except Exception as exc:  # torch raises many types for a damaged archive
        raise ModelLoadError(explain_load_error(path, exc)) from None
    module = tap_exported(program, layers, check_guards=trust).to(device)

    # An exported graph is frozen in the mode it was exported in; train()/eval() only flip the flags.
    def _set_mode(self, mode=True):
        for sub in self.modules():
            sub.training = mode
        return self

    module.train = types.MethodType(_set_mode, module)
    module.eval = types.MethodType(lambda self: self.train(False), module)
    return module


def _load_torch_save(path, card, base_dir, trust, device, plain=True):
    try:
        if not plain:  # the check found globals outside the weights-only allow-list: only with trust
            raise RuntimeError("needs full unpickling")
        obj = torch.load(str(path), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError or anything the restricted unpickler raises
        if plain and "Weights only load failed" not in str(exc):  # not a pickle problem: say what it is
            raise ModelLoadError(explain_load_error(path, exc)) from None
        if not trust:
            raise ModelLoadError(
                f"{path} is not a plain state dict: loading it needs full unpickling, which can run arbitrary "
                f"code ({type(exc).__name__}). If you trust this file, pass trust_code=True "
                "(CLI: --trust-code); better, save model.state_dict() and name the class in the card."
            ) from None
        try:
            obj = torch.load(str(path), map_location=device, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a class the pickle names is gone, a damaged file, ...
            raise ModelLoadError(
                f"{path} could not be unpickled ({type(exc).__name__}: {exc}). A pickled model needs the code "
                "that defined its class importable under the same name; better, save model.state_dict() and "
                "name the class in the card's architecture."
            ) from exc
    if isinstance(obj, nn.Module):
        return obj.to(device), "pickle"
    state = extract_state_dict(obj, path)
    architecture = card.architecture if card is not None else None
    if architecture is None:
        if card is None:
            looked = path.with_suffix(".json") if path.suffix else path.with_name(path.name + ".json")
            raise CardError(
                f"{path} holds only weights (a state dict) and no model card was found beside it (looked for "
                f'{looked}); give the card with --card model.json (Python: card=...), whose "architecture" '
                "names the network."
            )
        raise CardError(
            f"{path} holds only weights (a state dict); the model card must name the network: "
            '"architecture": {"class": "package.module.Class" or "file.py:Class", "kwargs": {...}}.'
        )
    network = build_network(architecture, base_dir, trust_code=trust)
    load_weights(network, state, path)
    return network.to(device), "state_dict"


def extract_state_dict(obj, path) -> dict:
    """The name -> tensor mapping inside a checkpoint (Lightning, plain dict, nested 'model' keys)."""
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        for key in STATE_DICT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    raise ModelLoadError(
        f"{path} holds no state dict (a mapping of parameter names to tensors, or a checkpoint with one under "
        f"{', '.join(repr(k) for k in STATE_DICT_KEYS)}). Save torch.save(model.state_dict(), path)."
    )


def load_weights(network: nn.Module, state: dict, path) -> None:
    """``load_state_dict`` after removing the best-matching wrapper prefix; mismatched keys named."""
    expected = set(network.state_dict())
    best, best_hits = state, -1
    for prefix in PREFIXES:
        if prefix and not all(k.startswith(prefix) for k in state):
            continue
        stripped = {k[len(prefix) :]: v for k, v in state.items()}
        hits = len(expected & set(stripped))
        if hits > best_hits:
            best, best_hits = stripped, hits
    missing = sorted(expected - set(best))
    unexpected = sorted(set(best) - expected)
    if missing or unexpected:

        def names(keys):
            return ", ".join(keys[:12]) + (f" (+{len(keys) - 12} more)" if len(keys) > 12 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {names(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {names(unexpected)}")
        raise ModelLoadError(
            f"The weights in {path} do not fit {type(network).__name__}: {'; '.join(parts)}. Check "
            "architecture.class and architecture.kwargs in the card (they must build the trained network)."
        )
    try:
        network.load_state_dict(best, strict=True)
    except RuntimeError as exc:  # shapes differ
        raise ModelLoadError(
            f"The weights in {path} do not fit {type(network).__name__}: {exc}. Check architecture.kwargs in the card."
        ) from exc


def check_against_card(loaded: LoadedModel) -> None:
    """One forward on zeros of the card's input shape: channels, dims and class count must fit. With
    sliding windows the model only ever sees one window: the probe is one window (``roi_size``)."""
    shape = loaded.card.input_shape(default=None)
    inference = loaded.card.inference
    windowed = inference.sliding and inference.roi_size is not None
    if windowed:
        shape = (1, loaded.card.in_channels, *(int(n) for n in inference.roi_size))
    if shape is None:
        return
    param = next(loaded.module.parameters(), None)
    x = torch.zeros(shape, device=param.device if param is not None else "cpu")
    try:
        with torch.no_grad():
            out = loaded.module(x)
    except Exception as exc:  # noqa: BLE001 - any failure here means model and card disagree
        raise ModelLoadError(
            f"The model in {loaded.path} does not accept the input its card describes, shape {tuple(shape)} "
            f"(in_channels={shape[1]}, spatial_dims={len(shape) - 2}, "
            f"{'one window of inference.roi_size' if windowed else 'input.size'}): {short_reason(exc)}. Fix "
            f"in_channels, spatial_dims or {'inference.roi_size' if windowed else 'input.size'} in the card, or use "
            "the card that belongs to this model."
        ) from exc
    classes = loaded.card.classes
    if isinstance(out, torch.Tensor) and classes and out.ndim >= 2 and out.shape[1] != len(classes):
        raise ModelLoadError(
            f"The model in {loaded.path} outputs {out.shape[1]} channels but its card lists {len(classes)} "
            f"classes {list(classes)}. Fix 'classes' in the card."
        )
