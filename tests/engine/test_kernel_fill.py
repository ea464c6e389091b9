"""The one-pass budget fill kernel equals the NumPy sort-and-cumulate formulation."""

from __future__ import annotations

import numpy as np
import pytest

from rahat.engine.kernels.fill import fill, fill_by_sorting, fill_quotas
from rahat.geo import jit as _jit

NO_LIMIT = np.iinfo(np.int64).max


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
    want = fill_by_sorting(unit, costs, quota_count, quota_money)
    assert want[0].any() and not want[0].all()
    for got in (
        fill_quotas(unit, costs, quota_count, quota_money),
        fill(unit, costs, quota_count, quota_money),
    ):
        for g, w in zip(got, want, strict=True):
            assert g.tolist() == w.tolist()


@pytest.mark.parametrize("ready", [False, True])
def test_fill_uses_the_kernel_once_numba_is_loaded(monkeypatch, ready: bool) -> None:
    import rahat.engine.kernels.fill as module

    called = []
    for name in ("fill_quotas", "fill_by_sorting"):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _n=name, _f=real: called.append(_n) or _f(*a))
    monkeypatch.setattr(_jit, "_READY", ready)
    unit = np.array([0, 1, 0], dtype=np.int64)
    chosen, _, _ = fill(unit, np.ones(3, np.int64), np.array([1, 1]), np.array([9, 9]))
    assert chosen.tolist() == [True, True, False]
    assert called == ["fill_quotas" if ready else "fill_by_sorting"]


def test_a_cheaper_household_after_the_first_that_does_not_fit_is_not_taken() -> None:
    unit = np.zeros(4, dtype=np.int64)
    costs = np.array([10, 30, 5, 0], dtype=np.int64)
    for fills in (fill_quotas, fill_by_sorting):
        chosen, count, money = fills(unit, costs, np.array([NO_LIMIT]), np.array([35]))
        assert chosen.tolist() == [True, False, False, False]
        assert (count.tolist(), money.tolist()) == ([1], [10])


def test_a_unit_is_filled_to_the_last_rupee_and_household() -> None:
    unit = np.zeros(3, dtype=np.int64)
    costs = np.array([10, 25, 1], dtype=np.int64)
    for fills in (fill_quotas, fill_by_sorting):
        chosen, _, money = fills(unit, costs, np.array([NO_LIMIT]), np.array([35]))
        assert chosen.tolist() == [True, True, False] and money.tolist() == [35]
        chosen, count, _ = fills(unit, costs, np.array([2]), np.array([NO_LIMIT]))
        assert chosen.tolist() == [True, True, False] and count.tolist() == [2]


def test_empty_and_zero_quotas() -> None:
    empty = np.zeros(0, dtype=np.int64)
    for fills in (fill_quotas, fill_by_sorting):
        chosen, count, money = fills(empty, empty, np.array([3, 3]), np.array([9, 9]))
        assert (chosen.tolist(), count.tolist(), money.tolist()) == ([], [0, 0], [0, 0])
        unit = np.array([0, 1, 1], dtype=np.int64)
        chosen, _, _ = fills(unit, np.ones(3, np.int64), np.array([0, 1]), np.array([9, 9]))
        assert chosen.tolist() == [False, True, False]
