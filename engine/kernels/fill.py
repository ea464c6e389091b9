"""Budget fill in rank order within per-unit quotas, in one pass over the ranked households.

:func:`fill_quotas` gives exactly the NumPy formulation

.. code-block:: python

    by_unit = np.argsort(unit, kind="stable")          # rank order kept inside each unit
    unit_count = position of each household in its unit, from 1
    unit_cost = cumulative cost of its unit up to and including it
    selected[by_unit] = (unit_count <= quota_count[unit]) & (unit_cost <= quota_money[unit])

without the sort and the gathers: one running count and cost per unit.
"""

from __future__ import annotations

import numpy as np

from rahat.engine.kernels._jit import kernel


@kernel
def fill_quotas(
    unit: np.ndarray, costs: np.ndarray, quota_count: np.ndarray, quota_money: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Select households in rank order while their unit's running count and cost fit its quota.

    Parameters
    ----------
    unit
        Unit of each household, in rank order (int64 in ``0 .. len(quota_count) - 1``).
    costs
        Transfer of each household (int64, >= 0; the caller checks that no sum overflows).
    quota_count, quota_money
        Most households and most rupees per unit (int64; a huge value for no limit).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Whether each household is selected (bool), and the households and rupees selected per
        unit (int64).

    Examples
    --------
    >>> import numpy as np
    >>> unit = np.array([0, 1, 0, 0, 1])
    >>> costs = np.array([10, 10, 10, 5, 10])
    >>> chosen, count, money = fill_quotas(unit, costs, np.array([2, 5]), np.array([30, 15]))
    >>> chosen.tolist(), count.tolist(), money.tolist()
    ([True, True, True, False, False], [2, 1], [20, 10])
    """
    n_units = len(quota_count)
    count = np.zeros(n_units, dtype=np.int64)
    spent = np.zeros(n_units, dtype=np.int64)
    chosen_count = np.zeros(n_units, dtype=np.int64)
    chosen_money = np.zeros(n_units, dtype=np.int64)
    chosen = np.empty(len(unit), dtype=np.bool_)
    for i in range(len(unit)):
        u = unit[i]
        count[u] += 1
        spent[u] += costs[i]
        fits = count[u] <= quota_count[u] and spent[u] <= quota_money[u]
        chosen[i] = fits
        if fits:
            chosen_count[u] += 1
            chosen_money[u] += costs[i]
    return chosen, chosen_count, chosen_money
