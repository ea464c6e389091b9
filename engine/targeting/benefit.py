"""Transfer amount per household, in whole rupees (int64).

The scenario bounds every transfer (:data:`~rahat.engine.targeting.money.MAX_AMOUNT`);
:func:`benefits` checks that the transfers of the households it prices sum within int64
(:func:`~rahat.engine.targeting.money.checked_total`), so every later sum of a subset of them
(the budget fill, totals, summaries) is exact.
"""

from __future__ import annotations

import numpy as np

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.money import checked_total
from rahat.engine.targeting.rules import class_code
from rahat.engine.targeting.scenario import Scenario


def fixed_amount(scenario: Scenario) -> int | None:
    """Return the transfer when it is the same for everyone (``fixed``), else ``None``."""
    b = scenario.benefit
    return int(b.amount) if b.kind == "fixed" and b.amount is not None else None


def benefits(scenario: Scenario, exposure: Exposure, idx: np.ndarray) -> np.ndarray:
    """Return the transfer of each household at positions ``idx`` (int64 rupees).

    ``fixed``: ``amount``. ``household_size``: the first bracket whose ``max_size`` is at least
    the household size (the last bracket is open). ``hazard_class``: ``by_class`` of the
    household's class on ``layer``, ``amount`` for every other class (and no data).

    Raises
    ------
    rahat.engine.targeting.money.MoneyOverflowError
        If the transfers sum beyond int64 (impossible within the scenario's bounds).
    """
    out = _benefits(scenario, exposure, idx)
    checked_total(out, "benefit")
    return out


def _benefits(scenario: Scenario, exposure: Exposure, idx: np.ndarray) -> np.ndarray:
    b = scenario.benefit
    if b.kind == "fixed":
        assert b.amount is not None
        return np.full(len(idx), b.amount, dtype=np.int64)
    if b.kind == "household_size":
        assert b.brackets is not None
        bounds = np.array([br.max_size for br in b.brackets[:-1]], dtype=np.int64)
        amounts = np.array([br.amount for br in b.brackets], dtype=np.int64)
        size = exposure.registry.array("household_size")[idx].astype(np.int64)
        return amounts[np.searchsorted(bounds, size, side="left")]
    assert b.layer is not None and b.by_class is not None and b.amount is not None
    layer = exposure.hazards[b.layer]
    table = np.full(len(layer.class_labels) + 1, b.amount, dtype=np.int64)  # last: no data
    for label, amount in b.by_class.items():
        table[class_code(layer, label)] = amount
    codes = layer.hazard_class[idx].astype(np.int64)
    return table[np.where(codes >= 0, codes, len(layer.class_labels))]
