"""A ``.pt2`` archive checked member by member against what ``torch.export.save`` writes for a module.

Why: ``torch.export.load`` unpickles whatever a payload config points at (``use_pickle``, ``opaque_obj_*``
anywhere in a path, ``custom_obj_*``), loads ``data/aotinductor/`` as native code, ``eval``s shape
expressions and compiles guards. A list of known-bad parts keeps missing new ones, so this accepts only:

==================================================  ===============================================
``<root>/archive_format``                           ``pt2``
``<root>/archive_version``, ``.data/version``       small decimal numbers
``<root>/byteorder``                                ``little`` or ``big``
``<root>/.data/serialization_id``                   decimal digits
``<root>/models/model.json``                        the program, checked by ``pt2_schema``
``<root>/data/weights/model_weights_config.json``   raw tensors ``weight_N`` only (``pt2_schema``)
``<root>/data/constants/model_constants_config.json``  raw tensors ``tensor_N`` only
``<root>/data/weights/weight_N``, ``data/constants/tensor_N``  raw bytes, as large as their metadata says
``<root>/data/sample_inputs/model.pt``              a ``torch.save`` of tensors (weights-only globals)
==================================================  ===============================================

Every member stored uncompressed, under one root folder, each name once. Anything else is refused.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

from .pickle_scan import pickle_globals
from .pt2_schema import DTYPE_BYTES, EXPORTED_PROGRAM, payload_config, validate

MAX_MEMBERS = 200_000
MAX_JSON_BYTES = 1 << 30
_ROOT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}")
_FIXED = {
    "archive_format": re.compile(rb"pt2"),
    "archive_version": re.compile(rb"[0-9]{1,6}"),
    "byteorder": re.compile(rb"little|big"),
    ".data/version": re.compile(rb"[0-9]{1,6}\n?"),
    ".data/serialization_id": re.compile(rb"[0-9]{1,64}"),
}
PROGRAM, SAMPLE = "models/model.json", "data/sample_inputs/model.pt"
CONFIGS = {
    "data/weights/model_weights_config.json": ("data/weights/", "weight"),
    "data/constants/model_constants_config.json": ("data/constants/", "tensor"),
}
_PAYLOAD = re.compile(r"data/(weights/weight|constants/tensor)_[0-9]{1,9}")
# What the sample-inputs torch.save may name: tensors, their storages, an OrderedDict.
_SAMPLE_MEMBERS = re.compile(
    r"(data\.pkl|byteorder|version|\.format_version|\.storage_alignment|"
    r"\.data/serialization_id|data/[0-9]{1,9})"
)
_SAMPLE_GLOBALS = re.compile(
    r"torch\._utils\._rebuild_tensor_v2|collections\.OrderedDict|"
    r"torch\.(Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool)Storage"
)


def _what(rest: str) -> str:
    """Why an unknown member matters, for the one-line message."""
    if rest.startswith(("data/aotinductor/", "data/executorch/", "data/mtia")):
        return "compiled native code, which torch.export.load loads and runs"
    if "opaque_obj" in rest or "custom_obj" in rest:
        return "a pickled object, which torch unpickles (runs code)"
    if rest.endswith((".pkl", ".pt", ".pth")):
        return "a pickle, which a plain torch.export.save of a module does not write"
    return "a member a plain torch.export.save of a module does not write"


def check_pt2(zf: zipfile.ZipFile, globals_used: list | None = None) -> list[str]:
    """Problems that keep ``zf`` (an open ``.pt2``) from being plain data; [] if it is what torch writes.
    ``globals_used`` collects the globals the sample-inputs pickle names."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        return [f"the archive holds {len(infos)} members, more than any exported module"]
    roots = {info.filename.split("/", 1)[0] for info in infos}
    root = next(iter(roots)) if len(roots) == 1 else None
    if root is None or not _ROOT.fullmatch(root) or root in (".", ".."):
        return [f"the archive's members are not under one plain root folder (found {sorted(roots)[:3]})"]
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        rest = info.filename[len(root) + 1 :]
        if rest in members:
            return [f"{rest} appears twice in the archive (the loaders would disagree on which one is read)"]
        if info.flag_bits & 0x1 or info.compress_type != zipfile.ZIP_STORED:
            return [f"{rest} is encrypted or compressed; torch.export.save stores members uncompressed"]
        if not (rest in _FIXED or rest in CONFIGS or rest in (PROGRAM, SAMPLE) or _PAYLOAD.fullmatch(rest)):
            return [f"{rest} is {_what(rest)}"]
        members[rest] = info
    missing = [m for m in (*_FIXED, PROGRAM, *CONFIGS, SAMPLE) if m not in members]
    if missing:
        return [f"the archive lacks {missing[0]}, which torch.export.save always writes"]
    problems = [
        f"{m} holds {_show(zf.read(members[m]))}, not what torch.export.save writes"
        for m, pattern in _FIXED.items()
        if members[m].file_size > 64 or not pattern.fullmatch(zf.read(members[m]))
    ]
    program = _read_json(zf, members[PROGRAM], PROGRAM, problems)
    if program is not None:
        problems += validate(program, EXPORTED_PROGRAM, "models/model.json")
    used: set[str] = set()
    for config_name, (folder, prefix) in CONFIGS.items():
        config = _read_json(zf, members[config_name], config_name, problems)
        found = validate(config, payload_config(prefix), config_name) if config is not None else ["unreadable"]
        problems += [] if found == ["unreadable"] else found
        if not found:
            problems += _payload_sizes(config["config"], folder, members, used)
    problems += [f"{m} is not named by any payload config" for m in members if _PAYLOAD.fullmatch(m) and m not in used][
        :1
    ]
    problems += _check_sample_inputs(zf.read(members[SAMPLE]), [] if globals_used is None else globals_used)
    return problems


def _show(data: bytes) -> str:
    return repr(data[:24]) + ("..." if len(data) > 24 else "")


def _read_json(zf, info, name, problems):
    if info.file_size > MAX_JSON_BYTES:
        problems.append(f"{name} is {info.file_size} bytes, larger than any exported module writes")
        return None
    try:
        return json.loads(zf.read(info).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSON syntax, bad UTF-8, a 5000-digit integer, deep nesting
        problems.append(f"{name} is not valid JSON ({type(exc).__name__}: {str(exc)[:80]})")
        return None


def _payload_sizes(config: dict, folder: str, members: dict, used: set) -> list[str]:
    """Each raw tensor's member exists and holds at least the bytes its sizes/strides reach (a missing or
    empty one would make torch allocate zeros of any size)."""
    for fqn, meta in config.items():
        name = folder + meta["path_name"]
        if name not in members:
            return [f"{name} (for {fqn}) is missing"]
        used.add(name)
        tm = meta["tensor_meta"]
        sizes = [s["as_int"] for s in tm["sizes"]]
        strides = [s["as_int"] for s in tm["strides"]]
        if len(sizes) != len(strides) or len(sizes) > 16:
            return [f"{fqn}: sizes and strides do not match"]
        numel = 1
        for s in sizes:
            numel *= s
        reach = sum((a - 1) * b for a, b in zip(sizes, strides))
        need = 0 if numel == 0 else 1 + tm["storage_offset"]["as_int"] + reach
        have = members[name].file_size
        if have < need * DTYPE_BYTES[tm["dtype"]] or have % DTYPE_BYTES[tm["dtype"]]:
            return [f"{name} holds {have} bytes, fewer than {fqn}'s sizes need ({need} elements)"]
    return []


def _check_sample_inputs(data: bytes, globals_used: list) -> list[str]:
    """``data/sample_inputs/model.pt``: torch.load tries weights_only=True and falls back to a full unpickle,
    so it must be a torch.save zip of plain tensors (and it is loaded weights-only anyway)."""
    where = SAMPLE
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            names = inner.namelist()
            roots = {n.split("/", 1)[0] for n in names}
            if len(roots) != 1 or len(set(names)) != len(names):
                return [f"{where} is not a torch.save archive (several roots or repeated names)"]
            pkl = None
            for n in names:
                rest = n.split("/", 1)[1] if "/" in n else ""
                if not _SAMPLE_MEMBERS.fullmatch(rest):
                    return [f"{where} holds {rest or n!r}, which a torch.save of tensors does not write"]
                if rest == "data.pkl":
                    pkl = inner.read(n)
            if pkl is None:
                return [f"{where} has no data.pkl"]
            globals_used.extend(pickle_globals(pkl))
            bad = [g for g in globals_used if not _SAMPLE_GLOBALS.fullmatch(g)]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        return [f"{where} is not a torch.save archive of tensors ({exc})"]
    return [f"{where} references {bad[0]}, which is not a tensor (unpickling it can run code)"] if bad else []
