"""Which globals a pickle would import, found without unpickling it; and the globals that are plain data.

Why: a pickle runs code through the globals it names (GLOBAL/STACK_GLOBAL then REDUCE). ``pickletools``
lists the opcodes; a small stack simulation resolves STACK_GLOBAL operands that come from the memo or were
shuffled. The allow-list is the one torch's own ``weights_only`` unpickler uses, so a file this accepts is
one ``torch.load(weights_only=True)`` would also accept.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools

# ---------------------------------------------------------------------------------------------- allow-lists


def _weights_only_globals() -> frozenset[str]:
    """Exactly what ``torch.load(weights_only=True)`` accepts by default, so our verdict matches torch's."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return frozenset(_get_allowed_globals())
    except Exception:  # private API moved: fall back to the core of it
        return frozenset(
            {
                "collections.OrderedDict",
                "torch._utils._rebuild_tensor_v2",
                "torch._utils._rebuild_parameter",
                "torch.Size",
                "torch.device",
                "torch.FloatStorage",
                "torch.float32",
                "builtins.set",
                "_codecs.encode",
            }
        )


DATA_GLOBALS = _weights_only_globals()
# torch.jit.save pickles: plain data plus TorchScript's own helpers; ``__torch__.*`` are classes compiled
# from the archive's code/ (TorchScript, no Python). The C++ unpickler rejects anything else.
TORCHSCRIPT_PREFIXES = ("__torch__.", "torch.jit._pickle.")


# ----------------------------------------------------------------------------------------- pickle scanning


class _Mark:
    pass


_MARK = _Mark()
_STRING_OPS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}  # bytes pushes stay opaque: STACK_GLOBAL rejects bytes operands anyway


def _canonical(module: str, name: str) -> str:
    """Map Python-2 names (``__builtin__``) the way Unpickler/weights_only do, so allow-listing is exact."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def pickle_globals(data, max_pickles: int = 1) -> list[str]:
    """Every global ``data``'s pickle(s) reference, in order; raises ValueError if it is not a pickle.

    Simulates the pickle stack (strings known, everything else opaque) so STACK_GLOBAL resolves to what
    the real unpickler would see, even through MEMOIZE/GET or POP. An operand we cannot know is reported
    as ``<unresolved>`` -- which no allow-list contains, so the file is refused (fail closed).
    """
    stream = data if hasattr(data, "read") else io.BytesIO(data)
    found: list[str] = []
    for _ in range(max_pickles):
        stack: list = []
        memo: dict = {}
        try:
            for op, arg, _pos in pickletools.genops(stream):
                name = op.name
                if name in ("GLOBAL", "INST"):
                    module, _, attr = arg.partition(" ")
                    found.append(_canonical(module, attr))
                elif name == "STACK_GLOBAL":
                    mod, attr = (stack[-2], stack[-1]) if len(stack) >= 2 else (None, None)
                    ok = isinstance(mod, str) and isinstance(attr, str)
                    found.append(_canonical(mod, attr) if ok else "<unresolved>")
                elif name.startswith("EXT"):
                    found.append(f"<copyreg extension {arg}>")
                if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = stack[-1] if stack else None
                    continue
                if name == "MEMOIZE":
                    memo[len(memo)] = stack[-1] if stack else None
                    continue
                if name == "DUP":
                    stack.append(stack[-1] if stack else None)
                    continue
                before = op.stack_before
                if pickletools.markobject in before:
                    while stack and stack[-1] is not _MARK:
                        stack.pop()
                    if not stack:
                        raise ValueError("MARK missing")
                    stack.pop()
                    n = before.index(pickletools.markobject)
                else:
                    n = len(before)
                if n > len(stack):
                    raise ValueError(f"stack underflow at {name}")
                del stack[len(stack) - n :]
                if name == "MARK":
                    stack.append(_MARK)
                elif name in _STRING_OPS:
                    stack.append(arg)
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    stack.append(memo.get(arg))
                else:
                    stack.extend([None] * len(op.stack_after))
        except Exception as exc:  # genops raises ValueError/IndexError/etc. on garbage
            raise ValueError(f"malformed pickle ({exc})") from exc
    return found


def legacy_first_int(data: bytes):
    """Value of the first (magic-number) pickle of a legacy torch.save file, else None."""
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data[:64])):
            if op.name in ("LONG1", "LONG4", "BININT", "INT", "LONG"):
                return arg
            if op.name == "STOP":
                return None
    except Exception:
        return None
    return None
