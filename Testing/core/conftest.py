"""Fixtures of the sliding-window tests (core/test_sliding_window.py, core/test_windowed_run.py): MONAI's small
UNet and a random volume several windows large (see helpers/window_models.py)."""

import pytest


@pytest.fixture(scope="module")
def unet():
    pytest.importorskip("monai")
    from helpers.window_models import small_unet

    return small_unet()


@pytest.fixture(scope="module")
def volume():
    from helpers.window_models import random_volume

    return random_volume()
