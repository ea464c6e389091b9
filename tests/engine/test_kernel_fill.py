"""The one-pass budget fill equals the sort-and-cumulate formulation it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from rahat.engine.kernels.fill import fill_quotas

NO_LIMIT = np.iinfo(np.int64).max


def _by_sorting(unit, costs, quota_count, quota_money):
    """Households in rank order, grouped by unit (stable), running count and cost per unit."""
    n, n_units = len(unit), len(quota_count)
    by_unit = np.argsort(unit, kind="stable")
    u_sorted = unit[by_unit]
    starts = np.searchsorted(u_sorted, np.arange(n_units))
    cum_cost = np.cumsum(costs[by_unit])
    unit_cost = cum_cost - np.concatenate(([0], cum_cost))[starts][u_sorted]
    unit_count = np.arange(1, n + 1) - starts[u_sorted]
    fits = (unit_count <= quota_count[u_sorted]) & (unit_cost <= quota_money[u_sorted])
    chosen = np.empty(n, dtype=bool)
    chosen[by_unit] = fits
    count = np.bincount(unit[chosen], minlength=n_units)
    money = np.bincount(unit[chosen], weights=costs[chosen], minlength=n_units).astype(np.int64)
    return chosen, count, money


@pytest.mark.parametrize("seed", range(6))
def test_fill_equals_the_sorted_formulation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_units = 2000, 9
    unit = rng.integers(0, n_units, n).astype(np.int64)
    costs = rng.choice([0, 5000, 25000, 40000], n).astype(np.int64)
    quota_count = rng.integers(0, 300, n_units).astype(np.int64)
    quota_money = rng.integers(0, 5_000_000, n_units).astype(np.int64)
    quota_count[0] = NO_LIMIT  # a unit limited by money only
    quota_money[1] = NO_LIMIT  # and one by count only
    got = fill_quotas(unit, costs, quota_count, quota_money)
    want = _by_sorting(unit, costs, quota_count, quota_money)
    for g, w in zip(got, want, strict=True):
        assert g.tolist() == w.tolist()


def test_a_cheaper_household_after_the_first_that_does_not_fit_is_not_taken() -> None:
    unit = np.zeros(4, dtype=np.int64)
    costs = np.array([10, 30, 5, 0], dtype=np.int64)
    chosen, count, money = fill_quotas(unit, costs, np.array([NO_LIMIT]), np.array([35]))
    assert chosen.tolist() == [True, False, False, False]
    assert (count.tolist(), money.tolist()) == ([1], [10])


def test_empty_and_zero_quotas() -> None:
    empty = np.zeros(0, dtype=np.int64)
    chosen, count, money = fill_quotas(empty, empty, np.array([3, 3]), np.array([9, 9]))
    assert (chosen.tolist(), count.tolist(), money.tolist()) == ([], [0, 0], [0, 0])
    unit = np.array([0, 1, 1], dtype=np.int64)
    chosen, _, _ = fill_quotas(unit, np.ones(3, np.int64), np.array([0, 1]), np.array([9, 9]))
    assert chosen.tolist() == [False, True, False]
