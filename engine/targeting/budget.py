"""Budget fill in rank order within per-unit quotas, with an explicit cut line.

Capacity
    ``budget.total`` (rupees) and/or ``budget.max_households``. With a fixed transfer the money
    becomes a household count, ``total // amount``, so quotas are whole households and no
    rupee is lost to rounding inside units.
Quotas
    ``proportional``: each unit's share of the capacity is proportional to its number of
    eligible households; ``fixed``: the given shares. Either way the capacity is split by the
    largest-remainder method (ties to the lower unit code), so quotas sum exactly to it.
    Households whose unit is unknown form one extra unit (share 0 under fixed shares).
Fill
    Within each unit, households are taken in rank order while the running count and cost stay
    within the unit's quota. The first household that does not fit ends that unit's list: a
    lower-ranked, cheaper household never jumps a higher-ranked one. Without quotas the whole
    caseload is one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from rahat.engine.targeting.scenario import Budget

_NO_LIMIT = np.iinfo(np.int64).max


def largest_remainder(total: int, weights: list[Fraction] | list[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (exact, sums to ``total``).

    Parameters
    ----------
    total
        Non-negative integer to split.
    weights
        Non-negative weights (ints or Fractions); all zero gives all zero.

    Returns
    -------
    list of int
        Quotas; the remainder goes one by one to the largest fractional parts, ties to the
        lower index.
    """
    w = [Fraction(x) for x in weights]
    wsum = sum(w, Fraction(0))
    if wsum == 0 or total == 0:
        return [0] * len(w)
    exact = [total * x / wsum for x in w]
    base = [int(e) for e in exact]  # floor for non-negative values
    left = total - sum(base)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return base


@dataclass(frozen=True)
class Allocation:
    """Result of the budget fill.

    Attributes
    ----------
    selected
        Bool per eligible household, in rank order.
    quotas
        One row per unit: ``unit`` (code, ``n_units`` for unknown), ``eligible``,
        ``quota_households``, ``quota_amount`` (``None``: no limit of that kind), ``selected``,
        ``amount``.
    count_capacity, money_capacity
        The limits applied overall (``None``: no limit).
    """

    selected: np.ndarray
    quotas: pd.DataFrame
    count_capacity: int | None
    money_capacity: int | None


def capacities(budget: Budget, fixed_amount: int | None) -> tuple[int | None, int | None]:
    """Return ``(max households, max rupees)`` (``None``: no limit), folding a fixed transfer."""
    count = budget.max_households
    money = budget.total
    if money is not None and fixed_amount is not None:
        if fixed_amount > 0:
            by_money = money // fixed_amount
            count = by_money if count is None else min(count, by_money)
        money = None  # redundant with the count (or irrelevant for a zero transfer)
    return count, money


def allocate(
    units: np.ndarray,
    costs: np.ndarray,
    n_units: int,
    budget: Budget,
    fixed_amount: int | None,
    shares: np.ndarray | None = None,
) -> Allocation:
    """Fill the budget in rank order.

    Parameters
    ----------
    units
        Quota unit code of each eligible household in rank order (int; -1 = unknown). All 0
        when there are no quotas.
    costs
        Transfer of each eligible household in rank order (int64 rupees).
    n_units
        Number of unit codes.
    budget
        The scenario's budget.
    fixed_amount
        The transfer when it is the same for all (lets money become a count), else ``None``.
    shares
        Fixed share per unit code (``n_units`` values) or ``None`` for proportional quotas.
    """
    n = len(costs)
    unit = np.where(units >= 0, units, n_units).astype(np.int64)  # unknown -> extra unit
    eligible = np.bincount(unit, minlength=n_units + 1)
    count_cap, money_cap = capacities(budget, fixed_amount)
    if shares is None:
        weights: list[Fraction] | list[int] = [int(x) for x in eligible]
    else:
        weights = [Fraction(float(s)) for s in shares] + [Fraction(0)]
    q_count = (
        np.array(largest_remainder(count_cap, weights), dtype=np.int64)
        if count_cap is not None
        else np.full(n_units + 1, _NO_LIMIT, dtype=np.int64)
    )
    q_money = (
        np.array(largest_remainder(money_cap, weights), dtype=np.int64)
        if money_cap is not None
        else np.full(n_units + 1, _NO_LIMIT, dtype=np.int64)
    )
    # Group households by unit, keeping rank order inside each unit (stable sort).
    by_unit = np.argsort(unit, kind="stable")
    u_sorted = unit[by_unit]
    starts = np.searchsorted(u_sorted, np.arange(n_units + 1))
    c_sorted = costs[by_unit].astype(np.int64)
    cum_cost = np.cumsum(c_sorted)
    offset = np.concatenate(([0], cum_cost))[starts][u_sorted]
    unit_cost = cum_cost - offset
    unit_count = np.arange(1, n + 1) - starts[u_sorted]
    fits = (unit_count <= q_count[u_sorted]) & (unit_cost <= q_money[u_sorted])
    selected = np.empty(n, dtype=bool)
    selected[by_unit] = fits
    sel_count = np.bincount(unit, weights=selected, minlength=n_units + 1).astype(np.int64)
    sel_amount = np.bincount(
        unit[selected], weights=costs[selected].astype(np.float64), minlength=n_units + 1
    ).astype(np.int64)
    quotas = pd.DataFrame(
        {
            "unit": np.arange(n_units + 1),
            "eligible": eligible.astype(np.int64),
            "quota_households": pd.array(
                q_count if count_cap is not None else [None] * (n_units + 1), dtype="Int64"
            ),
            "quota_amount": pd.array(
                q_money if money_cap is not None else [None] * (n_units + 1), dtype="Int64"
            ),
            "selected": sel_count,
            "amount": sel_amount,
        }
    )
    return Allocation(selected, quotas, count_cap, money_cap)
