"""Fixtures of the gradient-method tests: a 3D model that counts its forward calls and a batch of two."""

from __future__ import annotations

import pytest
import torch
from helpers.gradient_models import CountingModel


@pytest.fixture
def model():
    return CountingModel().eval()


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(2, 2, 6, 7, 5)
