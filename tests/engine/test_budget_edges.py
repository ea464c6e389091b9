"""The budget at its edges: the largest budget ``same_as`` may take, and quota off-by-ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_targeting_same_as import scenario, write

from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.budget import allocate, capacities, resolve_same_as
from rahat.engine.targeting.money import MAX_BUDGET
from rahat.engine.targeting.scenario import Budget
from rahat.geo.errors import ScenarioError


def test_same_as_takes_a_spend_of_exactly_the_largest_budget(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", scenario("base", {"total": 10**9}))
    top = load_scenario(write(tmp_path, "top.yaml", scenario("top", {"same_as": "base"})))
    out, chain = resolve_same_as(top, lambda s: MAX_BUDGET)
    assert out.budget.total == MAX_BUDGET and chain == [("base", MAX_BUDGET)]
    with pytest.raises(ScenarioError, match="more than a budget may be"):
        resolve_same_as(top, lambda s: MAX_BUDGET + 1)


def test_a_household_that_reaches_the_quota_exactly_is_selected() -> None:
    units = np.zeros(5, dtype=np.int64)
    costs = np.array([100, 200, 300, 50, 25], dtype=np.int64)
    # The count: the third household fills it, the fourth does not fit.
    by_count = allocate(units, costs, 1, Budget(max_households=3), None)
    assert by_count.selected.tolist() == [True, True, True, False, False]
    # The money: the second household brings the spend to exactly the total.
    by_money = allocate(units, costs, 1, Budget(total=300), None)
    assert by_money.selected.tolist() == [True, True, False, False, False]
    assert by_money.quotas["amount"].tolist() == [300, 0]
    assert by_money.quotas["quota_amount"].tolist() == [300, 0]
    assert by_money.quotas["quota_households"].isna().all()
    assert by_count.quotas["quota_amount"].isna().all()
    # A fixed transfer turns the money into a count: 3 x 100 fit in 300 exactly.
    fixed = allocate(units, np.full(5, 100, dtype=np.int64), 1, Budget(total=300), 100)
    assert fixed.selected.tolist() == [True, True, True, False, False]


def test_quotas_per_unit_are_filled_exactly_in_rank_order() -> None:
    # Two units, 4 and 2 eligible: 3 households split 2 and 1 (largest remainders).
    units = np.array([0, 1, 0, 0, 1, 0], dtype=np.int64)
    costs = np.full(6, 10, dtype=np.int64)
    allocation = allocate(units, costs, 2, Budget(max_households=3), None)
    assert allocation.selected.tolist() == [True, True, True, False, False, False]
    assert allocation.quotas["quota_households"].tolist() == [2, 1, 0]
    assert allocation.quotas["selected"].tolist() == [2, 1, 0]


def test_a_zero_fixed_transfer_leaves_no_limit() -> None:
    assert capacities(Budget(total=300), 0) == (None, None)
    assert capacities(Budget(total=300, max_households=5), 100) == (3, None)
    assert capacities(Budget(total=300, max_households=2), 100) == (2, None)
