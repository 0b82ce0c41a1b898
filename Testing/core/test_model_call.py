"""core.model_call: a model that refuses its input is one line naming the shape, the real cause (the last
line of a TorchScript traceback) and the card's input.size."""

import pytest
import torch
from SaliencyExplorerLib.core.model_call import call_model, short_reason
from SaliencyExplorerLib.errors import SaliencyError
from torch import nn


def test_a_refused_input_is_one_line_with_the_cause_and_the_fix():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    assert call_model(model, torch.zeros(1, 8)).shape == (1, 2)
    with pytest.raises(SaliencyError) as info:
        call_model(model, torch.zeros(1, 1, 3, 3))
    message = str(info.value)
    assert "\n" not in message and "(1, 1, 3, 3)" in message and "mat1 and mat2" in message
    assert '"input": {"size"' in message


def test_the_last_cause_of_a_torchscript_traceback_is_kept():
    traced = torch.jit.trace(nn.Sequential(nn.Flatten(), nn.Linear(8, 2)), torch.zeros(1, 8))
    try:
        traced(torch.zeros(1, 9))
    except Exception as exc:  # noqa: BLE001 - the real TorchScript error
        reason = short_reason(exc)
    assert "\n" not in reason and "mat1 and mat2" in reason and "Traceback" not in reason
    assert short_reason(ValueError("first line\nsecond")) == "first line"
    assert short_reason(RuntimeError("")) == "RuntimeError"
