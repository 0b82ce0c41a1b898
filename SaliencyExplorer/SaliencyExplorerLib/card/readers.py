"""The small typed readers every part of the card parser shares: each checks one JSON value and, when it is
wrong, raises a one-line :class:`CardError` naming the field (``input.spacing[1]``) and the fix."""

from __future__ import annotations

import math

from ..errors import CardError


def _fail(where, problem, fix):
    raise CardError(f"model card field '{where}': {problem}. {fix}")


def _str(value, where, choices=None):
    if not isinstance(value, str):
        _fail(where, f"expected a string, got {type(value).__name__} {value!r}", "Write it as a JSON string.")
    if choices is not None and value not in choices:
        _fail(where, f"{value!r} is not one of {', '.join(map(repr, choices))}", "Use one of the allowed values.")
    return value


def _number(value, where, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"expected a finite number, got {value!r}", "Write a JSON number such as 1.5.")
    if positive and value <= 0:
        _fail(where, f"must be > 0, got {value!r}", "Use a positive number.")
    return float(value)


# No integer in a card (a size, a channel count, a window) is meaningfully above this; larger ones would
# overflow torch's 64-bit sizes or ask for more memory than exists.
LARGEST_INT = 2**31 - 1


def _int(value, where, minimum=None, choices=None, maximum=LARGEST_INT):
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"expected an integer, got {value!r}", "Write a whole JSON number such as 64.")
    if minimum is not None and value < minimum:
        _fail(where, f"must be >= {minimum}, got {value}", f"Use an integer of at least {minimum}.")
    if maximum is not None and value > maximum:
        _fail(where, f"{value} is absurdly large (above {maximum})", "Use the model's real value.")
    if choices is not None and value not in choices:
        _fail(where, f"{value} is not one of {choices}", "Use one of the allowed values.")
    return value


def _bool(value, where):
    if not isinstance(value, bool):
        _fail(where, f"expected true or false, got {value!r}", "Write a JSON boolean.")
    return value


def _object(value, where, allowed, required=()):
    if not isinstance(value, dict):
        _fail(where, f"expected a JSON object, got {type(value).__name__}", "Write it as {...}.")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            _fail(
                f"{where}.{key}" if where else str(key),
                "unknown field",
                f"Remove it, or use one of: {', '.join(sorted(allowed))}.",
            )
    for key in required:
        if key not in value:
            _fail(f"{where}.{key}" if where else key, "missing", "Add it (see docs/model-card.md).")
    return value


def _per_axis_numbers(value, where, dims, check):
    """A number for every axis, or a list of one per axis (MONAI accepts both) -> a tuple."""
    if isinstance(value, list):
        if len(value) != dims:
            _fail(where, f"has {len(value)} values for a {dims}-axis model", f"Give one number, or {dims} numbers.")
        return tuple(check(v, f"{where}[{n}]") for n, v in enumerate(value))
    return (check(value, where),)
