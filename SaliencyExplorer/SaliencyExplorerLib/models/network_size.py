"""Building a network from a file's arguments without letting the arguments exhaust the machine.

Why: a card, plans.json or bundle config names a class and its arguments, and ``in_channels: 2**40`` or
``features_per_stage: [.., 200000]`` asks for terabytes of weights before a single voxel is read. The
network is first built on PyTorch's ``meta`` device (shapes only, no memory); its parameters and buffers
are counted and compared against the free memory (``core.resources``); only then is it built for real
(the whole sequence, with the download refusal, is ``network_build.build_from_args``).
A constructor that refuses its arguments (nnU-Net's own assertions, a wrong type) is one line naming the
file's field, never a traceback.
"""

from __future__ import annotations

import math

from ..core.resources import check_memory, gib
from ..errors import ModelLoadError

# Weights are held twice while loading (the state dict read from disk and the network's own tensors).
COPIES = 2
# A constructor argument above this is not a network size any file should ask for (2**31 channels...).
LARGEST_INT = 2**31


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _check_numbers(value, where: str, depth: int = 0) -> None:
    """Every number among the arguments finite and below LARGEST_INT (nested lists and dicts too)."""
    if depth > 32:
        raise ModelLoadError(f"{where} is nested more than 32 levels deep; a network's arguments are flat lists.")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) >= LARGEST_INT:
            raise ModelLoadError(f"{where} is {value!r}: no network argument is that large. Fix the value in the file.")
        return
    if isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            _check_numbers(item, f"{where}[{n}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_numbers(item, f"{where}.{key}", depth + 1)


def tensor_bytes(module) -> int:
    """Bytes of a module's parameters and buffers (works on the meta device: shapes only)."""
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        total += tensor.numel() * tensor.element_size()
    return total


def check_size(cls, kwargs: dict, where: str, fix: str) -> None:
    """Numbers bounded, then ``cls(**kwargs)`` on the meta device: its weights must fit in free memory."""
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    _check_numbers(kwargs, where)
    name = getattr(cls, "__name__", str(cls))
    try:
        with torch.device("meta"):
            probe = cls(**kwargs)
    except TypeError:
        raise  # wrong keyword arguments: the caller names the field
    except (MemoryError, OverflowError, RecursionError) as exc:
        raise ModelLoadError(
            f"{where}: {name} cannot be built from these arguments ({type(exc).__name__}: {_first_line(exc)}). {fix}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the constructor's own checks (assertions, ValueError, ...)
        if "meta" not in str(exc).lower():
            raise ModelLoadError(
                f"{where}: {name} refuses these arguments ({type(exc).__name__}: {_first_line(exc)}). {fix}"
            ) from None
        return  # a constructor that needs real tensors: built for real, unchecked, as before
    nbytes = tensor_bytes(probe)
    del probe
    check_memory(
        COPIES * nbytes,
        f"{where}: {name} with these arguments ({gib(nbytes)} of weights)",
        fix[:1].lower() + fix[1:].rstrip("."),
    )


def construct(cls, kwargs: dict, where: str, fix: str):
    """``cls(**kwargs)`` for real; a constructor's refusal is one line (TypeError left to the caller)."""
    try:
        return cls(**kwargs)
    except TypeError:
        raise
    except Exception as exc:  # noqa: BLE001 - as above, for a constructor that only fails on real tensors
        raise ModelLoadError(
            f"{where}: {getattr(cls, '__name__', str(cls))} refuses these arguments "
            f"({type(exc).__name__}: {_first_line(exc)}). {fix}"
        ) from None
