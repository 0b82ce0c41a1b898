"""Fixtures of the perturbation tests: a random input and weights of the non-cubic occlusion case."""

import numpy as np
import pytest
from helpers.occlusion_models import SHAPE


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    return rng.normal(size=SHAPE).astype(np.float32), rng.normal(size=SHAPE).astype(np.float32)
