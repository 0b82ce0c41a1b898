"""Spearman's rank correlation without scipy: Pearson correlation of average ranks (ties share a rank).

Truth: the definition of average ranks (smaller values + half the ties), hand-computed values with
ties, and invariance to monotone maps.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from SaliencyExplorerLib.evaluation.ranks import average_ranks, spearman


def test_spearman_matches_hand_values_with_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks a = (1.5, 1.5, 3, 4), b = (1, 2, 3, 4): Pearson of the ranks by hand = 0.9486833
    assert spearman([5, 5, 7, 9], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    assert np.isnan(spearman([1, 1, 1], [2, 2, 2]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=2, max_size=30))
def test_average_ranks_match_the_definition(values):
    v = np.asarray(values)
    # rank of v_i = number of smaller values + (number of equal values + 1) / 2
    expected = np.array([(v < x).sum() + ((v == x).sum() + 1) / 2 for x in v])
    np.testing.assert_allclose(average_ranks(v), expected)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-(10**6), 10**6), min_size=3, max_size=30, unique=True))
def test_spearman_is_invariant_to_monotone_maps_and_flips_sign(values):
    v = np.asarray(values, dtype=np.float64)
    assert spearman(v, 2 * v + 1) == pytest.approx(1.0)
    assert spearman(v, -(v**3)) == pytest.approx(-1.0)


def test_average_ranks_of_ties_by_hand():
    # sorted: 1 (rank 1), 2, 2 (ranks 2 and 3 -> 2.5), 5 (rank 4), 7, 7, 7 (ranks 5-7 -> 6)
    np.testing.assert_array_equal(average_ranks([7, 2, 5, 1, 7, 2, 7]), [6, 2.5, 4, 1, 6, 2.5, 6])
    np.testing.assert_array_equal(average_ranks(np.array([[3.0, 1.0], [2.0, 4.0]])), [3, 1, 2, 4])  # flattened


def test_spearman_of_a_hand_worked_case_with_ties_on_both_sides():
    # a = (1, 2, 2, 3) -> ranks (1, 2.5, 2.5, 4); b = (10, 30, 20, 20) -> ranks (1, 4, 2.5, 2.5)
    # centred: (-1.5, 0, 0, 1.5) and (-1.5, 1.5, 0, 0): dot 2.25, norms sqrt(4.5) each -> rho = 0.5
    assert spearman([1, 2, 2, 3], [10, 30, 20, 20]) == pytest.approx(0.5)
    assert spearman(np.ones((2, 2)), np.array([[1, 2], [3, 4]])) == 0.0  # works on maps of any shape
    with pytest.raises(ValueError, match="different sizes"):
        spearman([1, 2, 3], [1, 2])
