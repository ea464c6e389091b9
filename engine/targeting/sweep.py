"""What-if sweeps: evaluate a scenario over a grid of parameter values on one exposure.

Parameters are named by alias (``pmt_cutoff``, ``budget``, ``max_households``,
``bottom_percent``), by a hazard layer name (the ``min_intensity`` of the first hazard rule on
that layer, e.g. ``depth``), or by a dotted path into the scenario
(``eligibility.hazard.0.min_intensity``). The exposure is reused for every grid point: nothing is
read again, so a point costs one :func:`~rahat.engine.targeting.evaluate.evaluate`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from typing import Any

import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.evaluate import evaluate
from rahat.engine.targeting.gap_join import GapTable
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.scored import load_ranking_kernels
from rahat.geo.errors import ScenarioError

#: Short parameter names -> dotted scenario paths.
ALIASES: dict[str, str] = {
    "pmt_cutoff": "eligibility.pmt_cutoff",
    "budget": "budget.total",
    "total": "budget.total",
    "max_households": "budget.max_households",
    "bottom_percent": "eligibility.area_relative.bottom_percent",
    "amount": "benefit.amount",
    "seed": "seed",
}

#: Integer-valued scenario fields (grid values are cast to int for them).
_INTEGER_PATHS = {"budget.total", "budget.max_households", "benefit.amount", "seed"}

#: Most values of one swept parameter.
MAX_VALUES = 1000

#: Largest magnitude of a swept value (the scenario's own bounds are tighter).
MAX_MAGNITUDE = Decimal(10**18)

#: Columns of the sweep table besides the parameters (keys of ``Caseload.totals``).
METRICS: tuple[str, ...] = (
    "eligible",
    "selected",
    "people",
    "amount",
    "exposed_reached_share",
    "exposed_bottom40_reached_share",
)


@dataclass(frozen=True)
class SweepResult:
    """A sweep's table: one row per grid point, parameter columns then :data:`METRICS`."""

    scenario_name: str
    parameters: list[str]
    table: pd.DataFrame


def parse_range(text: str) -> list[float]:
    """Parse ``start:stop:step`` (inclusive stop) or ``a,b,c`` into a list of numbers.

    Decimal arithmetic keeps ``0.1:1.0:0.1`` exactly ``0.1, 0.2, ..., 1.0``.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        On malformed text, a number that is not finite (or beyond 1e18), a non-positive step
        or more than :data:`MAX_VALUES` values (counted before any is made).
    """
    shown = text if len(text) <= 80 else text[:79] + "…"
    try:
        if ":" in text:
            parts = [_number(p, shown) for p in text.split(":")]
            if len(parts) != 3:
                raise ScenarioError(f"range '{shown}': use start:stop:step, e.g. 20:40:2")
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise ScenarioError(f"range '{shown}': need step > 0 and stop >= start")
            try:
                count = int((stop - start) / step) + 1
            except DecimalException:  # beyond the decimal context: far too many
                count = MAX_VALUES + 1
            if count > MAX_VALUES:
                raise ScenarioError(
                    f"range '{shown}': more than {MAX_VALUES:,} values; use 1 to 1,000"
                )
            values = [start + k * step for k in range(count)]
        elif text.count(",") >= MAX_VALUES:
            raise ScenarioError(f"range '{shown}': more than {MAX_VALUES:,} values; use 1 to 1,000")
        else:
            values = [_number(p, shown) for p in text.split(",") if p.strip()]
    except DecimalException:
        raise ScenarioError(f"range '{shown}': not numbers; use start:stop:step or a,b,c") from None
    if not values or len(values) > MAX_VALUES:
        raise ScenarioError(f"range '{shown}': gives {len(values)} values; use 1 to 1,000")
    return [float(v) for v in values]


def _number(text: str, shown: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or abs(value) > MAX_MAGNITUDE:
        raise ScenarioError(
            f"range '{shown}': {text.strip()[:40]} is not a finite number up to 1e18"
        )
    return value


#: Scenario sections that decide the overlay itself (files, sampling radius, zone layers): a
#: sweep reuses one overlay, so varying them would silently change nothing.
OVERLAY_SECTIONS = ("hazards", "zones")


def resolve_parameter(scenario: Scenario, name: str) -> str:
    """Return the dotted scenario path a sweep parameter name stands for."""
    if name in ALIASES:
        return ALIASES[name]
    for i, rule in enumerate(scenario.eligibility.hazard):
        if rule.layer == name:
            bound = "min_intensity" if rule.max_intensity is None else "max_intensity"
            return f"eligibility.hazard.{i}.{bound}"
    if "." in name:
        if name.split(".", 1)[0] in OVERLAY_SECTIONS:
            raise ScenarioError(
                f"sweep parameter '{name}' changes the overlay (how households meet the hazard "
                "and zone layers), which a sweep computes once; run one scenario per value"
            )
        return name
    layers = ", ".join(h.layer for h in scenario.eligibility.hazard) or "none"
    raise ScenarioError(
        f"unknown sweep parameter '{name}'; use one of {', '.join(ALIASES)}, a hazard rule's "
        f"layer ({layers}) or a dotted path such as eligibility.pmt_cutoff"
    )


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep's grid: its parameter values and the scenario updates they make."""

    values: tuple[float, ...]
    updates: dict[str, float | int]


def grid_points(scenario: Scenario, vary: Mapping[str, Sequence[float]]) -> list[GridPoint]:
    """The grid of ``vary`` in the sweep's order (first parameter slowest).

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If a parameter name is unknown or changes the overlay (:func:`resolve_parameter`).
    """
    paths = [resolve_parameter(scenario, n) for n in vary]
    return [
        GridPoint(
            values=tuple(combo),
            updates={
                p: int(v) if p in _INTEGER_PATHS else v for p, v in zip(paths, combo, strict=True)
            },
        )
        for combo in itertools.product(*vary.values())
    ]


def point_rows(
    scenario: Scenario,
    exposure: Exposure,
    names: Sequence[str],
    points: Sequence[GridPoint],
    *,
    gap: GapTable | None = None,
    grid_size: int | None = None,
) -> list[dict[str, Any]]:
    """The sweep table's rows of ``points``: parameter values then :data:`METRICS`.

    Parameters
    ----------
    scenario, exposure, gap
        As for :func:`sweep`.
    names
        The swept parameters' names, the rows' first keys.
    points
        Grid points (:func:`grid_points`), evaluated in order.
    grid_size
        Points of the whole grid (default ``len(points)``): from 3 the ranking kernels are
        loaded first, so that points sharing a priority share its ranking.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        At the first point whose scenario is invalid.
    """
    if (len(points) if grid_size is None else grid_size) > 2:
        load_ranking_kernels()
    rows = []
    for point in points:
        totals = evaluate(scenario.with_updates(point.updates), exposure, gap).totals
        rows.append(
            {**dict(zip(names, point.values, strict=True)), **{m: totals[m] for m in METRICS}}
        )
    return rows


def sweep_result(
    scenario: Scenario, names: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> SweepResult:
    """The :class:`SweepResult` of ``rows`` (:func:`point_rows`, every grid point in order)."""
    table = pd.DataFrame(list(rows), columns=[*names, *METRICS])
    return SweepResult(scenario_name=scenario.name, parameters=list(names), table=table)


def sweep(
    scenario: Scenario,
    exposure: Exposure,
    vary: Mapping[str, Sequence[float]],
    *,
    gap: GapTable | None = None,
) -> SweepResult:
    """Evaluate ``scenario`` at every combination of the ``vary`` values.

    Parameters
    ----------
    scenario
        The base scenario.
    exposure
        The exposure, reused for every grid point.
    vary
        Parameter name -> values (first parameter varies slowest).
    gap
        The coverage-gap table every point is evaluated with (``--gap``).

    Returns
    -------
    SweepResult
        One row per grid point.
    """
    names = list(vary)
    rows = point_rows(scenario, exposure, names, grid_points(scenario, vary), gap=gap)
    return sweep_result(scenario, names, rows)
