"""Network constructor arguments that would download weights or touch files, refused before anything is built.

Why: the classes a card, a MONAI bundle or nnU-Net plans may name are allow-listed, but some of them fetch
weights when asked: ``HoVerNet(pretrained_url=...)`` fetches any URL (``file://`` too, copying the file into
``$TORCH_HOME/hub/``), ``DenseNet121(pretrained=True)`` and ``EfficientNetBN`` (``pretrained`` defaults to
True) reach the internet, ``Transchex`` always downloads BERT (``path_or_repo_id`` defaults to a hub id). A
model file already holds the weights, so no such argument is ever needed. Two checks, before building:

* by name: every parameter of the constructor (its signature) and every argument given whose name says
  "download or read weights" (``pretrained*``, ``*_url``, ``weights``, ``*_path``, ``*_dir``, ``cache*``,
  ``repo*``, ``*_file``, ``hub*``, ``download*``) must be off -- ``None``, ``False``, ``0`` or empty --
  whether it was given or is the default;
* by value: no argument (or default) is a URL or a file path, at any depth of lists and dicts.

Then the constructor runs under :func:`no_side_effects`: an audit hook (``sys.addaudithook``) refuses any
socket, URL request, file written or created, folder made, process started or library loaded while it runs.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
from contextlib import contextmanager

from ..errors import ModelLoadError

DOWNLOAD_NAME = re.compile(
    r"pretrain.*|.*_url|url|urls|weights|.*_weights_path|.*path_or_repo.*|repo.*|.*_path|"
    r"path|filename|file|.*_file|.*_dir|dir|cache|cache_.*|hub|hub_.*|download.*|load_.*|"
    r"bert_config",
    re.IGNORECASE,
)
_OFF = (None, False, 0, "", (), [], {})
_WEIGHT_SUFFIX = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".h5", ".zip", ".tar", ".gz", ".onnx")


def _looks_like_location(value: str) -> bool:
    v = value.strip().lower()
    return "://" in v or "/" in v or "\\" in v or v.startswith("~") or v.endswith(_WEIGHT_SUFFIX)


def _locations(value, depth=0):
    """Strings inside ``value`` that are URLs or file paths."""
    if depth > 20:
        return
    if isinstance(value, str):
        if _looks_like_location(value):
            yield value
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            yield from _locations(v, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _locations(k, depth + 1)
            yield from _locations(v, depth + 1)


def _is_off(value) -> bool:
    try:
        return any(value is off or (type(value) is type(off) and value == off) for off in _OFF)
    except Exception:  # noqa: BLE001 - an object whose == misbehaves is not "off"
        return False


def check_network_args(cls, kwargs: dict, where: str) -> None:
    """Raise ModelLoadError if building ``cls(**kwargs)`` could download or read weights from elsewhere."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
    name = getattr(cls, "__name__", str(cls))
    for arg in dict.fromkeys([*defaults, *kwargs]):
        value = kwargs.get(arg, defaults.get(arg))
        given = "" if arg in kwargs else " (its default)"
        if DOWNLOAD_NAME.fullmatch(arg) and not _is_off(value):
            raise ModelLoadError(
                f"{where}: {name} argument {arg}={_short(value)}{given} would download or read weights from outside "
                f"the model file; the weights come from the model file, so set {arg} to "
                f"{'False' if isinstance(value, bool) else 'None'} (or remove it)."
            )
        found = next(_locations(value), None)
        if found is not None:
            raise ModelLoadError(
                f"{where}: {name} argument {arg}={_short(found)}{given} is a URL or a file path; a network is built "
                "from plain values only (its weights come from the model file). Remove it."
            )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------ what they do, while they run
_state = threading.local()
_hook_installed = False
# Reaching out (a library probing IPv6 support by binding a local socket at import is not).
_NETWORK_EVENTS = (
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.sendto",
    "socket.sendmsg",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "poplib.",
    "imaplib.",
    "nntplib.",
    "telnetlib.",
    "webbrowser.",
)
_WRITE_EVENTS = frozenset(
    {
        "os.mkdir",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "shutil.make_archive",
        "shutil.unpack_archive",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
    }
)
_PROCESS_EVENTS = (
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.startfile",
    "os.kill",
    "ctypes.dlopen",
    "pty.spawn",
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _writes(args) -> bool:
    """``open`` audit args are (path, mode, flags): mode is None for os.open."""
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _audit(event, args):
    if not getattr(_state, "active", False):
        return
    if args and isinstance(args[0], (str, bytes, os.PathLike)) and "__pycache__" in os.fsdecode(args[0]):
        return  # a lazy import caching its bytecode
    what = None
    if event.startswith(_NETWORK_EVENTS):
        what = "reach the network"
    elif event == "open" and _writes(args):
        what = f"write {args[0]!r}"
    elif event in _WRITE_EVENTS:
        what = f"change files ({event})"
    elif event.startswith(_PROCESS_EVENTS):
        what = f"start a process or load a library ({event})"
    if what is not None:
        _state.refused = getattr(_state, "refused", None) or what
        raise PermissionError(f"building a network may not {what}")


@contextmanager
def no_side_effects(where: str):
    """Run a network constructor; refuse any network access, write or process it attempts, and report the
    first one in one line (even if the constructor caught the PermissionError and went on)."""
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)  # permanent by design of audit hooks; inert unless a build is running
        _hook_installed = True
    if getattr(_state, "active", False):  # nested: the outer guard reports
        yield
        return
    _state.active, _state.refused = True, None
    try:
        yield
    except BaseException:
        if _state.refused is None:
            raise
    finally:
        _state.active = False
    refused, _state.refused = _state.refused, None
    if refused is not None:
        raise ModelLoadError(
            f"{where}: building the network tried to {refused}, which this tool never does for a "
            "file from elsewhere; remove the argument that asks for it (pretrained weights, "
            "URLs, cache folders)."
        ) from None
