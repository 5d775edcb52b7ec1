"""The bin rule for flags, codes and small counts: at most ``BINS`` distinct integer values
get one bin per value; anything else gets quantile bins."""

from __future__ import annotations

import numpy as np
import pytest

from streaminfer.operators.profile import BINS, integer_levels, numeric_bins


def test_each_of_a_few_integer_values_gets_a_bin_of_its_own() -> None:
    values = np.array([0.0] * 700 + [1.0] * 200 + [2.0] * 60 + [3.0] * 30 + [5.0] * 10)
    bins = numeric_bins("txn_last_hour", values)
    assert bins.edges == (0.0, 1.0, 2.0, 3.0)
    assert bins.expected == pytest.approx([0.7, 0.2, 0.06, 0.03, 0.01])
    # below the lowest value: the first bin; between or above the values: the next one up
    assert bins.counts(np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0])).tolist() == [
        2, 1, 1, 1, 3]


def test_a_binary_feature_has_two_bins() -> None:
    bins = numeric_bins("foreign", np.array([0.0] * 950 + [1.0] * 50))
    assert bins.size == 2 and bins.expected == pytest.approx([0.95, 0.05])


@pytest.mark.parametrize("values", [
    np.arange(BINS + 1, dtype=np.float64).repeat(50),        # more integers than bins
    np.array([0.5, 1.5, 2.5]).repeat(100),                    # few values, not integers
])
def test_other_values_get_quantile_bins(values: np.ndarray) -> None:
    assert integer_levels(values) is None
    quantiles = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1]))
    assert set(numeric_bins("x", values).edges) <= set(quantiles.tolist())
