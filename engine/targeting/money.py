"""Bounds on money and counts, and the one checked sum of rupee amounts.

Amounts are whole rupees held in int64 arrays, whose sums wrap silently past
``2**63 - 1`` (about 9.2e18). The scenario schema bounds every input so that no sum can get
there: a transfer is at most :data:`MAX_AMOUNT` (Rs 1e9) per household and a caseload has at
most :data:`MAX_HOUSEHOLDS` (1e9) households, so any sum of transfers is at most 1e18; a
budget is at most :data:`MAX_BUDGET` (Rs 1e15, about ten times Pakistan's GDP). Every place
that sums or accumulates amounts still goes through :func:`checked_total`, which proves the
bound on the actual values (or computes exactly) and refuses a total that does not fit,
instead of wrapping.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rahat.geo.errors import ScenarioError

#: Largest value of an int64 column.
INT64_MAX = int(np.iinfo(np.int64).max)

#: Largest transfer to one household, in rupees (``benefit.amount``, brackets, ``by_class``).
MAX_AMOUNT = 10**9

#: Largest count of households (``budget.max_households``, a caseload's size).
MAX_HOUSEHOLDS = 10**9

#: Largest budget envelope, in rupees (``budget.total``).
MAX_BUDGET = 10**15

# MAX_AMOUNT * MAX_HOUSEHOLDS must fit int64: then no sum of transfers can wrap.
assert MAX_AMOUNT * MAX_HOUSEHOLDS <= INT64_MAX
assert MAX_BUDGET <= INT64_MAX


class MoneyOverflowError(ScenarioError):
    """A sum of rupee amounts that does not fit a 64-bit integer (or a negative amount)."""


def checked_total(amounts: np.ndarray | Iterable[int], what: str = "amounts") -> int:
    """Return the exact sum of non-negative rupee ``amounts``, refusing one beyond int64.

    Because the amounts are non-negative, every partial sum (a cumulative sum, a group's sum)
    is at most this total: a caller that checked the total may then sum any subset in int64.

    Parameters
    ----------
    amounts
        Integer amounts (an integer array or an iterable of ints).
    what
        What the amounts are, for the error message.

    Returns
    -------
    int
        The exact total (a Python int, at most :data:`INT64_MAX`).

    Raises
    ------
    MoneyOverflowError
        If an amount is negative, not an integer, or the total exceeds :data:`INT64_MAX`.
    """
    values = amounts if isinstance(amounts, np.ndarray) else np.asarray(list(amounts), dtype=object)
    if values.size == 0:
        return 0
    if values.dtype.kind not in "iuO":
        raise MoneyOverflowError(f"{what}: rupee amounts must be whole numbers")
    low, high = int(values.min()), int(values.max())
    if low < 0:
        raise MoneyOverflowError(f"{what}: negative amount {low}")
    if values.dtype.kind in "iu" and high * values.size <= INT64_MAX:
        return int(values.sum(dtype=np.int64))  # provably no wrap
    total = sum(int(v) for v in values.ravel().tolist())  # exact, Python ints
    if total > INT64_MAX:
        raise MoneyOverflowError(
            f"{what}: the total Rs {total:,} exceeds what can be counted (Rs {INT64_MAX:,}); "
            f"lower the transfers (at most Rs {MAX_AMOUNT:,} per household)"
        )
    return total
