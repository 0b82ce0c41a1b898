"""Calling the model, with an error that says what is wrong when the model refuses the input.

Why its own module: the run, the layer table and the checks against a card all call the model the same
way, and a TorchScript model's 20-line traceback must reach the user as one line with the fix.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SaliencyError
from .sliding_window import SlidingWindow, WindowPlan
from .targets import pick_output

SIZE_HINT = (
    "If the model only accepts the size it was made for (a TorchScript trace, a fixed Linear layer), "
    'give it a model card with "input": {"size": [...]} (and spatial_dims, in_channels) so the '
    "volume is resampled to that size."
)
WINDOW_HINT = (
    "The model runs on the card's sliding windows: check that inference.roi_size is a window size the "
    "model accepts (a patch-trained network often needs sizes divisible by its total stride)."
)


def short_reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened: for TorchScript's multi-line tracebacks the final
    ``...Error: message`` line (the real cause), else the message's first line."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and ("TorchScript" in lines[0] or "Traceback" in str(exc)):
        causes = [line for line in lines if ": " in line and line.split(":", 1)[0].endswith(("Error", "Exception"))]
        if causes:
            return causes[-1].split(": ", 1)[1].strip() or causes[-1]
        return lines[-1]
    return lines[0]


def call_model(model: nn.Module, x: torch.Tensor, hint: str = SIZE_HINT):
    """`model(x)`; an exception from inside the model becomes a one-line SaliencyError naming the input's
    shape, the cause (a TorchScript traceback reduced to its last line) and the fix (``hint``: the card's
    ``input.size``, or for a window its ``inference.roi_size``)."""
    try:
        return model(x)
    except SaliencyError:
        raise
    except Exception as exc:
        raise SaliencyError(
            f"The model raised {type(exc).__name__} on an input of shape {tuple(x.shape)}: {short_reason(exc)}. "
            f"Check that the input's channels, spatial dims and size match what the model expects. {hint}"
        ) from exc


def model_output(model: nn.Module, x: torch.Tensor, output_key=None, sliding_window=None) -> torch.Tensor:
    """The output the explanation explains: ``model(x)``'s chosen output, or under ``sliding_window`` (a
    SlidingWindow, its dict, or a card's InferenceSpec) the blended output of MONAI's windows. Every check of
    trust (faithfulness, sanity, compare's target) calls the model through here, exactly as ``explain`` does."""
    windows = SlidingWindow.of(sliding_window)
    if windows is None:
        return pick_output(call_model(model, x), output_key)
    plan = WindowPlan(windows, x.shape[2:], x.dtype, x.device)
    return plan.infer(lambda t: pick_output(call_model(model, t, WINDOW_HINT), output_key), x)


def model_probe(x: torch.Tensor, sliding_window=None) -> torch.Tensor:
    """What to run the model on to see its layers: ``x``, or its first window (padded as MONAI pads) when the
    model runs on windows, since a patch-trained network may accept only window-sized inputs."""
    windows = SlidingWindow.of(sliding_window)
    if windows is None:
        return x
    plan = WindowPlan(windows, x.shape[2:], x.dtype, x.device)
    return plan.gather(plan.pad_input(x[:1]), [(0, 0)])
