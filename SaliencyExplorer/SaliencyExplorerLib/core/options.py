"""Method options: written as text (``"window=[8, 8, 4], occluder=mean"``) as the panel and CLI take them,
checked as numbers, and the default method. Torch-free: the Slicer panel reads it before PyTorch exists."""

from __future__ import annotations

import ast
import numbers

from ..errors import SaliencyError

DEFAULT_METHOD = "gradcam"  # what every front door explains with when no method is named


def positive_int(value, name: str, minimum: int = 1) -> int:
    """An int (numpy ints too) >= ``minimum``, or an error naming the option (0 steps: an empty curve)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SaliencyError(f"{name} must be an integer >= {minimum}, not {value!r}.")
    return int(value)


def non_negative_float(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number >= 0 or number == float("inf"):
        raise SaliencyError(f"{name} must be a finite number >= 0; got {value!r}.")
    return number


def _top_level_split(text: str) -> list[str]:
    """Split on commas outside brackets and quotes, so ``window=[8, 8, 4]`` and ``name='a, b'`` stay one."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            depth += char in "([{"
            depth -= char in ")]}"
            if char == "," and depth == 0:
                parts.append(current)
                current = ""
                continue
        current += char
    return parts + [current]


def parse_method_options(text: str) -> dict:
    """``"relu=False, n_samples=8"`` -> ``{"relu": False, "n_samples": 8}`` (Python literals; bare words stay strings)."""
    options = {}
    for part in filter(None, (p.strip() for p in _top_level_split(text or ""))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SaliencyError(
                f"method option '{part}' is not 'name=value': write options like "
                "'relu=False, batch_size=4', separated by commas"
            )
        value = value.strip()
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options
