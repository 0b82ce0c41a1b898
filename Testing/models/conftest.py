"""Fixtures of the model-file tests: the eager network the files are saved from, and an input batch."""

import pytest
import torch
from SaliencyExplorerLib.demo.network import LesionNet


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LesionNet(width=2).eval()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.randn(2, 1, 8, 8, 8)
