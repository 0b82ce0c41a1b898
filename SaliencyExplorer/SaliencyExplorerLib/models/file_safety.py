"""Classify a PyTorch model file and decide whether loading it could run code -- without unpickling.

Every model file goes through :func:`check_file_safe` before any torch loader sees it (``loading.load_model``),
whatever its suffix; the only way past a refusal is the one opt-in, ``trust_code=True`` (CLI ``--trust-code``).

Why: torch's loaders execute code from the file in several places (torch 2.13):

* ``torch.load(weights_only=False)`` -- any pickle GLOBAL/REDUCE runs.
* ``torch.export.load`` (torch/export/__init__.py::load -> torch/export/pt2_archive/_package.py::load_pt2)
  - ``_load_state_dict``: weights whose JSON config says ``use_pickle`` -> ``torch.load(weights_only=False)``
  - ``_load_constants``: ``tensor_*`` constants with ``use_pickle`` -> ``torch.load(weights_only=False)``;
    ``opaque_obj_*`` -> ``pickle.loads``; ``custom_obj_*`` -> ``torch._C._pickle_load_obj`` (C++, torchbind)
  - torch/_export/serde/serialize.py::deserialize_torch_artifact (sample inputs ``data/sample_inputs/*.pt``,
    legacy ``data/weights/<m>.pt`` / ``data/constants/<m>.pt``, and the pre-2.8 zip format's
    ``serialized_*.pt``): ``torch.load(weights_only=True)`` and, if that fails, ``weights_only=False``.
  - GraphModuleDeserializer._parse_sym_expr: ``sympy.sympify(expr_str)`` = ``eval`` of a JSON string
    from ``models/<m>.json`` -- code execution with no pickle at all.
  - ``load_pt2`` loads any ``data/aotinductor/<m>/`` package as a native shared library.
  - ``ExportedProgram.module()`` compiles the program's ``guards_code`` strings with ``exec``.
* ``torch.jit.load`` uses the C++ unpickler (torch/csrc/jit/serialization/unpickler.cpp), which only
  resolves a fixed set of torch names and ``__torch__.*`` TorchScript classes; any other global fails
  with "Unknown type name ..." -- it cannot call Python. A tampered TorchScript pickle is refused here
  as damaged/tampered, not because it could run Python.

So we read only the small pickle members (never tensor data), list every global they reference
(``pickle_scan``) and compare with the allow-list torch's own weights_only unpickler uses. A ``.pt2`` is
validated positively instead (``pt2_archive``, ``pt2_schema``, ``export_guard``): only the members, fields
and string grammars a plain ``torch.export.save`` of a module writes are accepted.
"""

from __future__ import annotations

import io
import os
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ModelLoadError
from .pickle_scan import DATA_GLOBALS, TORCHSCRIPT_PREFIXES, legacy_first_int, pickle_globals
from .pt2_archive import check_pt2

OPT_IN = "trust_code=True (CLI: --trust-code)"
_TEXT_BYTES = set(b"\t\n\r\f") | set(range(0x20, 0x7F))
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER (first pickle of a legacy file)


@dataclass
class FileInspection:
    """What a file is (``kind``), why it must not be loaded blindly (``problems``), what its pickles name."""

    kind: str  # 'state_dict' | 'torchscript' | 'export' | 'empty' | 'not_a_model'
    problems: list[str] = field(default_factory=list)
    globals_used: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ classification


def _short(name: str) -> str:
    """Member name without the archive's root folder (torch names it after the file stem)."""
    return name.split("/", 1)[1] if "/" in name else name


def _zip_kind(shorts: set[str]) -> str | None:
    if "archive_format" in shorts or "serialized_exported_program.json" in shorts:
        return "export"
    if "constants.pkl" in shorts or any(s.startswith("code/") for s in shorts):
        return "torchscript"
    if "data.pkl" in shorts:
        return "state_dict"
    return None


def _describe_non_zip(path: Path, head: bytes, size: int) -> FileInspection:
    """Name what a non-zip file is, in one line, with the fix."""
    if head[:1] == b"\x80":
        if legacy_first_int(head) == _LEGACY_MAGIC:
            return FileInspection("state_dict")
        return FileInspection(
            "not_a_model",
            [
                f"{path} is a plain Python pickle, not a torch.save/TorchScript/torch.export file; re-save the "
                "weights with torch.save(model.state_dict(), ...)."
            ],
        )
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return FileInspection(
            "not_a_model",
            [
                f"{path} is a safetensors file, not a PyTorch file; convert it with "
                "torch.save(safetensors.torch.load_file(...), 'model.pt')."
            ],
        )
    image = _image_format(path, head)
    if image:
        return FileInspection(
            "not_a_model",
            [
                f"{path} is an image ({image}), not a model: were --input and --model swapped? Give the image as "
                "--input and the .pt/.pt2 file (or model folder) as --model."
            ],
        )
    if head and all(b in _TEXT_BYTES or b >= 0x80 for b in head[:1024]) and _is_utf8(head[:1024]):
        text = head[:1024].decode("utf-8", "replace").lstrip()
        if text.startswith("version https://git-lfs"):
            what = (
                "a Git LFS pointer, not the model itself; run `git lfs pull` in its repository to fetch the real file"
            )
        elif text[:15].lower().startswith(("<!doctype html", "<html")):
            what = "an HTML page (a failed or login-walled download?), not a model; download the file again"
        else:
            what = (
                f"a text file (starts {text[:40]!r}), not a model; point to the .pt/.pt2 file that "
                "torch.save, torch.jit.save or torch.export.save wrote"
            )
        return FileInspection("not_a_model", [f"{path} is {what}."])
    return FileInspection(
        "not_a_model",
        [
            f"{path} is not a PyTorch model file (unrecognised binary content, first bytes {head[:8].hex()}); "
            "expected a torch.save, TorchScript (torch.jit.save) or torch.export (.pt2) file."
        ],
    )


def _image_format(path: Path, head: bytes) -> str | None:
    """The medical/picture image format a file's first bytes (or a compressed NIfTI's name) show, if any."""
    name = path.name.lower()
    if head.startswith(b"NRRD"):
        return f"NRRD, first bytes {head[:8].hex()} = {head[:8].decode('ascii', 'replace')!r}"
    if head[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00", b"ni2\x00") or name.endswith((".nii", ".nii.gz")):
        return "NIfTI"
    if head[128:132] == b"DICM":
        return "DICOM"
    if head.lstrip().startswith((b"ObjectType = Image", b"NDims")):
        return "MetaImage"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        return "PNG/JPEG picture"
    return None


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(b) - 3  # a character cut at the 1 KiB boundary


def inspect_file(path, data: bytes | None = None) -> FileInspection:
    """Classify ``path`` and list every pickle global and code-running feature, without unpickling.

    ``data``: the file's bytes, already read (the check then covers exactly the bytes that get loaded)."""
    path = Path(path)
    size = path.stat().st_size if data is None else len(data)
    if size == 0:
        return FileInspection(
            "empty", [f"{path} is empty (0 bytes): the download or copy did not finish; fetch the model file again."]
        )
    if data is None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    else:
        head = data[:4096]
    if head.startswith(_ZIP_MAGIC):
        return _inspect_zip(path, size, None if data is None else io.BytesIO(data))
    inspection = _describe_non_zip(path, head, size)
    if inspection.kind == "state_dict":  # legacy torch.save: magic, protocol, sys_info, object, keys
        try:  # genops reads from the file and stops after the 5th STOP: storages are never read
            with open(path, "rb") as fh:
                inspection.globals_used = _unique(pickle_globals(fh, max_pickles=5))
        except ValueError as exc:
            inspection.problems.append(f"{path} is a damaged legacy torch.save file ({exc}); re-save it.")
        _judge(inspection, path, "the pickle", inspection.globals_used, DATA_GLOBALS)
    return inspection


def _inspect_zip(path: Path, size: int, source=None) -> FileInspection:
    try:
        zf = zipfile.ZipFile(path if source is None else source)
    except (zipfile.BadZipFile, OSError) as exc:
        return FileInspection(
            "not_a_model",
            [
                f"{path} is a truncated or damaged zip archive ({size} bytes, {exc}); torch.save/TorchScript/"
                ".pt2 files are zips, so this copy is incomplete: download or copy it again."
            ],
        )
    with zf:
        members = {_short(n): n for n in zf.namelist()}
        kind = _zip_kind(set(members))
        if kind is None:
            listing = ", ".join(sorted(members)[:4])
            return FileInspection(
                "not_a_model",
                [
                    f"{path} is a zip archive but not a PyTorch file (it holds {listing}); expected a torch.save, "
                    "TorchScript or torch.export (.pt2) archive."
                ],
            )
        inspection = FileInspection(kind)
        try:
            if kind == "export":
                _inspect_export(path, zf, members, inspection)
            else:
                allowed = DATA_GLOBALS if kind == "state_dict" else None
                for short, full in members.items():
                    if short.endswith(".pkl") or short.endswith(".debug_pkl"):
                        _scan_pickle(path, short, zf.read(full), inspection, allowed)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            inspection.kind = "not_a_model"
            inspection.problems.insert(0, f"{path} is a damaged {kind} archive ({exc}); download or copy it again.")
    inspection.globals_used = _unique(inspection.globals_used)
    return inspection


def _scan_pickle(path, member, data, inspection, allowed):
    """Add ``member``'s globals; ``allowed`` None means TorchScript rules (C++ unpickler)."""
    if data[:4] == _ZIP_MAGIC:  # a torch.save (or torchbind) archive nested inside a .pt2
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            for name in inner.namelist():
                if name.endswith(".pkl"):
                    _scan_pickle(path, f"{member}:{_short(name)}", inner.read(name), inspection, allowed)
        return
    try:
        names = pickle_globals(data)
    except ValueError as exc:
        inspection.problems.append(f"{member} is not a valid pickle ({exc})")
        return
    inspection.globals_used.extend(names)
    _judge(inspection, path, member, names, allowed)


def _judge(inspection, path, member, names, allowed):
    if allowed is None:
        bad = [g for g in names if g not in DATA_GLOBALS and not g.startswith(TORCHSCRIPT_PREFIXES)]
        why = "which torch.jit.load cannot resolve (the archive was tampered with)"
    else:
        bad = [g for g in names if g not in allowed]
        why = "which can run code when unpickled"
    if bad:
        shown = ", ".join(_unique(bad)[:3]) + (f" and {len(set(bad)) - 3} more" if len(set(bad)) > 3 else "")
        inspection.problems.append(f"{member} references {shown}, {why}")


def _inspect_export(path, zf, members, inspection):
    """.pt2: positive validation of every member and field (``pt2_archive``), nothing unpickled."""
    inspection.problems.extend(check_pt2(zf, inspection.globals_used))


def _unique(items):
    return list(dict.fromkeys(items))


# -------------------------------------------------------------------------------------------- public checks


def check_file_safe(path, trust_code: bool = False, data: bytes | None = None) -> FileInspection:
    """Inspect ``path`` (or its bytes ``data``); raise ModelLoadError for a damaged file, or a risky one unless
    ``trust_code``.

    Damaged/not-a-model files are refused whatever ``trust_code`` says: no loader could use them, and a
    specific message beats torch's "invalid load key" or "weights only load failed".
    """
    inspection = inspect_file(path, data)
    if inspection.kind in ("empty", "not_a_model"):
        raise ModelLoadError(inspection.problems[0])
    if inspection.problems and not trust_code:
        more = f" (and {len(inspection.problems) - 1} more issue(s))" if len(inspection.problems) > 1 else ""
        if inspection.kind == "torchscript":
            risk = "it is not what torch.jit.save writes"
        elif inspection.kind == "export":
            risk = (
                "a .pt2 is accepted without the opt-in only with exactly what torch.export.save writes for a "
                "module (docs/security.md); loading anything else could run code from the file"
            )
        else:
            risk = "loading it could run code from the file"
        raise ModelLoadError(
            f"{path} ({inspection.kind}) is not plain data: {inspection.problems[0]}{more}; {risk}. "
            f"If you trust its source, pass {OPT_IN}."
        )
    return inspection


def check_checkpoint_file(path, what: str, fix: str) -> FileInspection:
    """Refuse, in one line that names the damage, a file that cannot be the ``torch.save`` checkpoint a model
    folder keeps (nnU-Net's ``checkpoint_final.pth``, a bundle's ``models/model.pt``): empty, truncated, a Git
    LFS pointer, text, TorchScript or a ``.pt2``. Only then may a refusal of its pickle blame code.

    ``what``: the file expected ("the checkpoint nnU-Net writes"); ``fix``: what to give instead."""
    try:
        inspection = inspect_file(path)
    except OSError as exc:
        raise ModelLoadError(
            f"{path} could not be read ({exc.strerror or exc}). Check the file and its permissions."
        ) from None
    if inspection.kind in ("empty", "not_a_model"):
        raise ModelLoadError(inspection.problems[0])
    if inspection.kind == "torchscript":
        raise ModelLoadError(f"{path} is a TorchScript archive (torch.jit.save), not {what}; {fix}")
    if inspection.kind == "export":
        raise ModelLoadError(f"{path} is a torch.export program (.pt2), not {what}; {fix}")
    return inspection


@contextmanager
def _weights_only_everywhere():
    """Make every torch.load inside (incl. torch.export.load's weights_only=False calls) weights-only.

    Defence in depth after the check: torch.serialization.load reads TORCH_FORCE_WEIGHTS_ONLY_LOAD on
    each call. It does not cover pickle.loads of opaque_obj_ or sympify -- the check covers those.
    Process-wide while active, so do not hold it around unrelated threads' deliberate full loads.
    """
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def load_export_safely(path, trust_code: bool = False):
    """``torch.export.load`` of exactly the bytes that passed the check; without trust, under forced
    weights_only. Guards are never compiled without trust (``exported.tap_exported``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            f"{path} could not be read ({exc.strerror or exc}). Check the path and permissions."
        ) from None
    check_file_safe(path, trust_code, data)
    if trust_code:
        return torch.export.load(io.BytesIO(data))
    with _weights_only_everywhere():
        return torch.export.load(io.BytesIO(data))


def explain_load_error(path, exc: BaseException) -> str:
    """One line for a torch load failure on a file that passed the check (so it is not a pickle issue)."""
    text = str(exc)
    if "torch.cuda.is_available() is False" in text or "CUDA" in text and "not available" in text.lower():
        return (
            f"{path} asks for a CUDA device (saved on a GPU or map_location='cuda') but this machine has "
            "no usable CUDA; load it with device='cpu'."
        )
    if "Weights only load failed" in text:
        first = next((ln.strip() for ln in text.splitlines() if "WeightsUnpickler error" in ln), text[:200])
        return (
            f"{path} holds objects that torch's weights-only loader refuses ({first}); if you trust the "
            f"file, pass {OPT_IN}."
        )
    return f"{path} could not be loaded ({type(exc).__name__}: {text.strip().splitlines()[0][:200] if text else ''})."
