"""Pointing game and energy fraction against values computed by hand."""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import energy_fraction, pointing_game


def test_energy_fraction_by_hand_2d():
    heat = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]])
    region = np.array([[0, 1, 1], [0, 0, 0]])
    assert energy_fraction(heat, region) == pytest.approx(3.0 / 10.0)
    assert energy_fraction(torch.tensor(heat), torch.tensor(region)) == pytest.approx(0.3)
    # negative values carry no energy: only the positive mass counts
    assert energy_fraction(heat - 1.0, region) == pytest.approx(1.0 / (1 + 2 + 3))


def test_pointing_game_3d_peak_inside_and_outside():
    heat = np.zeros((4, 5, 6))
    heat[2, 3, 4] = 1.0
    heat[0, 0, 0] = 0.5
    region = np.zeros((4, 5, 6), dtype=np.uint8)
    region[1:3, 2:4, 3:5] = 7  # any non-zero label is inside
    assert pointing_game(heat, region) is True
    heat[0, 0, 0] = 2.0
    assert pointing_game(heat, region) is False
    # energy: (1.0) / (1.0 + 2.0)
    assert energy_fraction(heat, region) == pytest.approx(1.0 / 3.0)


def test_pointing_game_tolerance_in_millimetres():
    heat = np.zeros((10, 10))
    heat[0, 9] = 1.0
    region = np.zeros((10, 10))
    region[0, 5] = 1  # 4 voxels away along the second axis
    assert not pointing_game(heat, region)
    assert pointing_game(heat, region, tolerance_mm=4.0)
    assert not pointing_game(heat, region, tolerance_mm=4.0, spacing=(1.0, 1.5))  # 6 mm away
    assert pointing_game(heat, region, tolerance_mm=6.0, spacing=(1.0, 1.5))


def test_tied_peaks_must_all_hit():
    heat = np.ones((3, 3))
    region = np.zeros((3, 3))
    region[1, 1] = 1
    assert not pointing_game(heat, region)  # a flat map points nowhere
    assert pointing_game(heat, np.ones((3, 3)))
    assert np.isnan(energy_fraction(np.zeros((3, 3)), region))


def test_bad_regions_are_clear_errors():
    heat = np.random.default_rng(0).random((6, 6))
    with pytest.raises(SaliencyError, match="empty"):
        pointing_game(heat, np.zeros((6, 6)))
    with pytest.raises(SaliencyError, match=r"shape \(5, 6\).*Resample"):
        energy_fraction(heat, np.ones((5, 6)))
    with pytest.raises(SaliencyError, match="NaN"):
        energy_fraction(np.full((6, 6), np.nan), np.ones((6, 6)))
    with pytest.raises(SaliencyError, match="spacing"):
        pointing_game(heat, np.ones((6, 6)), tolerance_mm=1.0, spacing=(1.0,))
