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
Same money
    ``budget.same_as`` names another scenario; :func:`resolve_same_as` evaluates it (through a
    callback, on the same registry and hazards) and gives the scenario that spend as its
    ``total``, following chains and refusing cycles and unknown names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from rahat.engine.kernels.fill import fill
from rahat.engine.targeting.money import MAX_BUDGET, checked_total
from rahat.engine.targeting.scenario import Budget, Scenario, load_scenario
from rahat.engine.targeting.scenario_files import read_scenario_file
from rahat.geo.errors import InputError, ScenarioError

#: File suffixes of scenario files ``budget.same_as`` may name.
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")

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
    """Return ``(max households, max rupees)`` (``None``: no limit), folding a fixed transfer.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If ``budget.same_as`` was not resolved first (:func:`resolve_same_as`): the budget
        would otherwise be read as no limit.
    """
    if budget.same_as is not None:
        raise ScenarioError(
            f"budget.same_as '{budget.same_as}' is not resolved; run the scenario through "
            "rahat.engine.pipeline (run_scenario or resolve_budget), which evaluates it first"
        )
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
    checked_total(costs, "budget fill")  # every cumulative sum below is at most this
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
    selected, sel_count, sel_amount = fill(unit, costs, q_count, q_money)
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


# --------------------------------------------------------------------------- same money


def _scenario_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SCENARIO_SUFFIXES)


def _name_in(path: Path) -> str | None:
    """Return the ``name`` field of a scenario file, or ``None`` if it cannot be read."""
    try:
        data = read_scenario_file(path)  # within the size and nesting limits
    except InputError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def find_scenario(name: str, folder: Path) -> Path:
    """Return the scenario file ``name`` refers to in ``folder``.

    ``name`` is a file name (``bisp_2022_as_done.yaml``), a file name without its suffix, or the
    ``name`` field of one of the folder's scenario files, tried in that order. Only plain file
    names are accepted: no folders, so an API scenario cannot reach other server files.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If none matches; the message lists the valid names (never the folder's path).
    """
    files = _scenario_files(folder)
    if "/" not in name and "\\" not in name and name not in ("", ".", ".."):
        for path in files:
            if name in (path.name, path.stem):
                return path
        for path in files:
            if _name_in(path) == name:
                return path
    valid = [p.stem for p in files]
    import difflib

    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ScenarioError(
        f"budget.same_as: no scenario '{name}' in the scenarios folder{hint} "
        f"(valid: {', '.join(valid) or 'none'})"
    )


def resolve_same_as(
    scenario: Scenario,
    spend: Callable[[Scenario], int],
    *,
    folder: Path | None = None,
) -> tuple[Scenario, list[tuple[str, int]]]:
    """Replace ``budget.same_as`` by the amount the named scenario spends.

    Parameters
    ----------
    scenario
        A loaded scenario; returned unchanged when its budget has no ``same_as``.
    spend
        ``spend(s)`` evaluates scenario ``s`` (whose budget is resolved already) on the run's
        registry and hazards and returns its total amount in rupees.
    folder
        Where to look for a scenario that comes from no file (the API's inline scenarios);
        a scenario loaded from a file looks in its own folder. Default: the scenarios folder
        (:func:`rahat.geo.paths.scenarios_dir`).

    Returns
    -------
    (Scenario, list)
        The scenario with ``budget.total`` set (``same_as`` removed, ``max_households`` and
        ``reserve_for_unregistered`` kept),
        and the chain followed as ``(scenario name, amount spent)``, nearest first.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        For an unknown name (listing the valid ones) or a cycle (listing it).
    """
    return _resolve(scenario, spend, folder, (scenario.name,), set())


def _resolve(
    scenario: Scenario,
    spend: Callable[[Scenario], int],
    folder: Path | None,
    chain: tuple[str, ...],
    files: set[Path],
) -> tuple[Scenario, list[tuple[str, int]]]:
    ref = scenario.budget.same_as
    if ref is None:
        return scenario, []
    if folder is None:
        from rahat.geo.paths import scenarios_dir

        folder = scenarios_dir()
    path = find_scenario(ref, scenario.base_dir or folder).resolve()
    other = load_scenario(path)
    if path in files or other.name in chain:
        cycle = " -> ".join([*chain, other.name])
        raise ScenarioError(f"budget.same_as: cycle {cycle}; one of them needs a total")
    resolved_other, deeper = _resolve(other, spend, folder, (*chain, other.name), files | {path})
    amount = int(spend(resolved_other))
    if amount > MAX_BUDGET:
        raise ScenarioError(
            f"budget.same_as: '{other.name}' spends Rs {amount:,}, more than a budget may be "
            f"(Rs {MAX_BUDGET:,})"
        )
    budget = scenario.budget.model_copy(update={"total": amount, "same_as": None})
    out = scenario.model_copy(update={"budget": budget})
    return out, [(other.name, amount), *deeper]
