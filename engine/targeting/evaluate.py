"""Evaluate a scenario on an exposure: rules, priority, ranking, budget fill -> :class:`Caseload`.

Everything is vectorised over households (NumPy arrays, categorical codes); nothing is read from
disk except the scenario's small assisted-households lists (cached by file stamp), so
re-evaluating a variant of a scenario on a cached exposure costs only the arithmetic.
Determinism: the same scenario and exposure give the same frame, row order and values; the rows
are ordered by rank, then by household id, never by the registry's row order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.benefit import benefits, fixed_amount
from rahat.engine.targeting.budget import allocate
from rahat.engine.targeting.caseload import (
    DECISIONS,
    Caseload,
)
from rahat.engine.targeting.explain import explain
from rahat.engine.targeting.gap_join import (
    GapJoin,
    GapTable,
    join_gap,
    require_gap,
    reserve_budget,
    reserve_transfer,
)
from rahat.engine.targeting.memo import memoised
from rahat.engine.targeting.money import checked_total
from rahat.engine.targeting.rows import CaseloadRows
from rahat.engine.targeting.rules import RuleSet, evaluate_rules
from rahat.engine.targeting.scenario import Budget, Scenario
from rahat.engine.targeting.scored import Ranking, rank_households
from rahat.engine.targeting.stale import registry_stale
from rahat.engine.targeting.units import admin_units

#: Share of households defining the registry-wide "bottom 40 %" by PMT.
BOTTOM_SHARE = 0.4


def bottom40_bound(exposure: Exposure) -> float:
    """Return the PMT score at the registry-wide 40th percentile (position ceil(0.4 n) - 1)."""
    registry = exposure.registry

    def compute() -> float:
        pmt = registry.array("pmt_score")
        if len(pmt) == 0:
            return float("nan")
        k = int(np.ceil(BOTTOM_SHARE * len(pmt))) - 1
        return float(np.partition(pmt, k)[k])

    return memoised(registry, ("bottom40",), compute)


def _exposed(scenario: Scenario, exposure: Exposure, rules: RuleSet) -> np.ndarray:
    n = len(exposure)
    layers = [exposure.hazards[h.name] for h in scenario.hazards if h.name in exposure.hazards]
    if layers:
        out = np.zeros(n, dtype=bool)
        for layer in layers:
            out |= layer.hazard_class >= 1
        return out
    for rule in rules.rules:
        if rule.key == "notified":
            return rule.passed.copy()
    return np.zeros(n, dtype=bool)


def _quota_shares(scenario: Scenario, exposure: Exposure) -> tuple[Any, np.ndarray | None]:
    q = scenario.quotas
    if q is None:
        return None, None
    units = admin_units(exposure, q.level, scenario.admin_units)
    if q.mode != "fixed":
        return units, None
    assert q.shares is not None
    shares = np.zeros(len(units), dtype=np.float64)
    for name, share in q.shares.items():
        hit, _ = units.match([name])
        if hit.any():
            shares[hit] += share / hit.sum()
    return units, shares


def evaluate(
    scenario: Scenario,
    exposure: Exposure,
    gap: GapTable | None = None,
    *,
    ranking: Ranking | None = None,
) -> Caseload:
    """Evaluate ``scenario`` on ``exposure`` and return the ranked, budgeted caseload.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`~rahat.engine.targeting.scenario.load_scenario`).
    exposure
        The overlay of the scenario's hazard layers on a registry.
    gap
        The coverage-gap table (:func:`~rahat.engine.targeting.gap_join.read_gap`): its
        estimates join the summary's districts, and ``budget.reserve_for_unregistered``
        holds money back for them (:mod:`~rahat.engine.targeting.gap_join`).
    ranking
        How the eligible households are ranked (default
        :func:`~rahat.engine.targeting.scored.rank_households`); a cluster's ranking
        (:func:`rahat.engine.distributed.ranking.distributed_ranking`) gives the same order.

    Returns
    -------
    Caseload
        One row per household considered, with rank, selection, score components, benefit and
        reasons; totals, per-unit quotas, explanations and provenance.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If the exposure lacks a hazard layer the scenario's rules need, or the budget reserves
        for the unregistered households without a ``gap`` table.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> samples = repo_root() / "data" / "samples"
    >>> import numpy as np
    >>> from rahat.engine.overlay import overlay
    >>> from rahat.engine.targeting import load_scenario
    >>> from rahat.geo.hazards import read_hazard
    >>> from rahat.geo.registry.model import Registry
    >>> from rahat.geo.registry.validate import read_registry
    >>> households = read_registry(samples / "registry_sample.csv").registry
    >>> lon = np.linspace(67.55, 67.72, len(households))  # moved onto the sample flood
    >>> households = Registry.from_frame(households.frame.assign(lon=lon, lat=26.93))
    >>> depth = read_hazard(samples / "flood_depth_sample.tif", kind="flood_depth", name="depth")
    >>> scenario = load_scenario({
    ...     "name": "sample flood",
    ...     "hazards": [{"name": "depth", "path": str(samples / "flood_depth_sample.tif"),
    ...                  "kind": "flood_depth"}],
    ...     "eligibility": {"pmt_cutoff": 60, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    ...     "benefit": {"kind": "fixed", "amount": 25000},
    ...     "budget": {"total": 100000},
    ... })
    >>> caseload = evaluate(scenario, overlay(households, [depth]))
    >>> [caseload.totals[k] for k in ("exposed", "eligible", "selected", "amount")]
    [25, 19, 4, 100000]
    >>> for part in caseload.frame["reasons"].iloc[4].split(";"):
    ...     print(part)
    depth>=0.3:pass
    pmt<=60:pass
    budget: cut at rank 5 (score 0.000 = 0.000 at the cut, ranked after it by the keyed hash)
    """
    registry = exposure.registry
    rules = evaluate_rules(scenario, exposure)
    exposed = _exposed(scenario, exposure, rules)
    considered = rules.eligible | exposed
    for rule in rules.rules:
        if rule.key == "notified":
            considered |= rule.passed
    idx = np.flatnonzero(considered)
    eligible_c = rules.eligible[idx]

    stale_c, stale_notes = _stale(scenario, exposure, idx)
    scores, ranked = (ranking or rank_households)(scenario, exposure, idx, stale_c, eligible_c)
    entitled = np.where(eligible_c, benefits(scenario, exposure, idx), 0).astype(np.int64)
    exposed_c = exposed[idx]
    e_pos = np.flatnonzero(eligible_c)

    units, shares = _quota_shares(scenario, exposure)
    if units is not None:
        unit_codes = units.codes[idx[ranked]].astype(np.int64)
        n_units = len(units)
    else:
        unit_codes = np.zeros(len(ranked), dtype=np.int64)
        n_units = 1
    joined = join_gap(gap, exposure, idx, exposed_c) if gap is not None else None
    budget: Budget = scenario.budget
    if budget.reserve_share() > 0:
        joined = require_gap(joined)
        transfer = reserve_transfer(fixed_amount(scenario), entitled[e_pos])
        reserve = reserve_budget(budget, budget.reserve_share(), joined.footprint_est, transfer)
        joined = replace(joined, reserve=reserve)
        budget = reserve.budget
    alloc = allocate(unit_codes, entitled[ranked], n_units, budget, fixed_amount(scenario), shares)

    rank = np.zeros(len(idx), dtype=np.int64)
    rank[ranked] = np.arange(1, len(ranked) + 1)
    selected = np.zeros(len(idx), dtype=bool)
    selected[ranked] = alloc.selected
    # Final decision per considered household: codes into DECISIONS.
    decision = np.full(len(idx), DECISIONS.index("not_eligible"), dtype=np.int8)
    decision[ranked] = np.where(
        alloc.selected,
        DECISIONS.index("selected"),
        DECISIONS.index("cut_budget" if units is None else "cut_quota"),
    )
    unit_index = np.where(unit_codes >= 0, unit_codes, n_units)  # unknown: the extra unit
    quota_unit = np.zeros(len(idx), dtype=np.int64)  # index into unit_labels
    quota_unit[ranked] = unit_index
    if units is not None:
        unit_labels = [
            str(code) if code is not None else str(name)
            for name, code in zip(units.names, units.pcodes, strict=True)
        ] + ["(unknown unit)"]
    else:
        unit_labels = ["(all)", "(unknown unit)"]
    amount = np.where(selected, entitled, 0).astype(np.int64)
    bottom40_c = registry.array("pmt_score")[idx] <= bottom40_bound(exposure)

    quotas = _quota_table(alloc.quotas, units, ranked, unit_index, alloc.selected, scores)
    chosen = ranked[alloc.selected]  # positions in idx of the selected, rank order
    totals = _totals(
        scenario,
        len(registry),
        eligible=eligible_c,
        selected=selected,
        exposed=exposed_c,
        bottom40=bottom40_c,
        people=np.take(registry.array("household_size"), idx[chosen]),
        amount=entitled[chosen],
        cut=_cut_line(ranked, alloc.selected, scores),
        n_quota_units=len(quotas),
    )
    totals["cut"]["cut_by_budget"] = int((decision == DECISIONS.index("cut_budget")).sum())
    totals["cut"]["cut_by_quota"] = int((decision == DECISIONS.index("cut_quota")).sum())
    # A unit is full when one of its eligible households is cut by its quota.
    passed_over = alloc.quotas["eligible"].to_numpy() > alloc.quotas["selected"].to_numpy()
    totals["cut"]["quota_units_full"] = int(passed_over.sum()) if units is not None else 0
    report = _options_totals(totals, scenario, exposure, stale_c, selected, exposed_c, joined)
    messages = explain(scenario, exposure, rules, totals, quotas)
    messages.extend(_reserve_messages(joined))

    rows = CaseloadRows(
        scenario=scenario,
        exposure=exposure,
        rules=rules,
        idx=idx,
        ranked=ranked,
        eligible=eligible_c,
        exposed=exposed_c,
        bottom40=bottom40_c,
        selected=selected,
        rank=rank,
        scores=scores,
        entitled=entitled,
        amount=amount,
        decision=decision,
        quota_unit=quota_unit,
        unit_labels=unit_labels,
        with_quotas=units is not None,
        score_at_cut=totals["cut"]["score_at_cut"],
        stale=stale_c,
    )
    return Caseload(
        scenario=scenario,
        totals=totals,
        quotas=quotas,
        messages=messages,
        hazard_sha256={name: h.sha256 for name, h in exposure.hazards.items()},
        registry=registry,
        rows=rows,
        warnings=(*rules.warnings, *stale_notes, *(joined.warnings() if joined else ())),
        gap=joined,
        report=report,
    )


def _stale(
    scenario: Scenario, exposure: Exposure, idx: np.ndarray
) -> tuple[np.ndarray | None, list[str]]:
    """Whether each considered household's record is stale (``None``: no option), and notes."""
    option = scenario.stale_records
    if option is None:
        return None, []
    found = registry_stale(exposure.registry, option.older_than_years)
    notes = []
    if not found.has_dates:
        notes.append(
            "stale_records: the registry has no last_updated column; no record is counted stale"
        )
    return found.stale[idx], notes


def _options_totals(
    totals: dict[str, Any],
    scenario: Scenario,
    exposure: Exposure,
    stale: np.ndarray | None,
    selected: np.ndarray,
    exposed: np.ndarray,
    gap: GapJoin | None,
) -> dict[str, Any]:
    """Add the stale-record and gap figures to ``totals``; return the run's report blocks.

    Nothing is added for a scenario without ``stale_records`` run without a gap table.
    """
    report: dict[str, Any] = {}
    option = scenario.stale_records
    if stale is not None and option is not None:
        totals["stale_in_footprint"] = int((stale & exposed).sum())
        totals["stale_selected"] = int((stale & selected).sum())
        as_of = registry_stale(exposure.registry, option.older_than_years).as_of
        report["stale_records"] = {
            "older_than_years": option.older_than_years,
            "as_of": None if as_of is None else str(as_of),
            "action": option.action,
            "weight": option.weight,
            "considered": int(stale.sum()),
            "in_footprint": totals["stale_in_footprint"],
            "selected": totals["stale_selected"],
        }
    if gap is not None:
        totals["unregistered_b40_footprint_est"] = round(gap.footprint_est)
        report["gap"] = gap.report()
        if gap.reserve is not None:
            held = gap.reserve.amount
            totals["reserved_for_unregistered"] = held
            totals["reserved_households"] = gap.reserve.households
            if held is not None and totals["unspent"] is not None:
                totals["unspent"] -= held
    return report


def _reserve_messages(gap: GapJoin | None) -> list[str]:
    """One line saying how much the budget holds back for the unregistered households."""
    if gap is None or gap.reserve is None:
        return []
    r = gap.reserve
    held = []
    if r.amount is not None:
        held.append(f"Rs {r.amount:,}")
    if r.count is not None:
        held.append(f"{r.count:,} of the households")
    what = " and ".join(held) or "nothing (the budget has no limit)"
    return [
        f"the budget holds back {what} for {r.households:,} unregistered bottom-40% "
        f"households of the footprint ({r.share:.0%} of the {round(gap.footprint_est):,} "
        f"estimated, Rs {r.transfer:,} each); selection used the rest"
    ]


def _quota_table(
    table: pd.DataFrame,
    units: Any,
    ranked: np.ndarray,
    unit: np.ndarray,
    chosen: np.ndarray,
    scores: np.ndarray,
) -> pd.DataFrame:
    """The allocation's table per unit with names, the last selected rank and its score.

    ``unit`` and ``chosen`` are per eligible household in rank order (``ranked``: their
    positions among the considered). Scores do not increase along the ranking, so a unit's
    lowest selected score is its last selected household's.
    """
    n_units = len(table) - 1
    picked = np.flatnonzero(chosen)
    last = np.full(n_units + 1, -1, dtype=np.int64)  # position in the ranking, -1: none
    np.maximum.at(last, unit[picked], picked)
    has = last >= 0
    last_rank = np.where(has, last + 1, 0)
    cut_score = np.full(n_units + 1, np.nan)
    cut_score[has] = scores[ranked[last[has]]]
    out = table.copy()
    if units is not None:
        out.insert(1, "name", [*units.names, "(unknown)"])
        out.insert(2, "pcode", [*units.pcodes, None])
    else:
        out.insert(1, "name", ["(all)", "(unknown)"])
        out.insert(2, "pcode", [None, None])
    out["last_selected_rank"] = pd.array(np.where(last_rank > 0, last_rank, 0), dtype="Int64")
    out.loc[last_rank == 0, "last_selected_rank"] = pd.NA
    out["score_at_cut"] = cut_score
    keep = (out["eligible"] > 0) | (out["quota_households"].fillna(0) > 0)
    keep |= out["quota_amount"].fillna(0) > 0
    return out[keep.to_numpy()].reset_index(drop=True)


def _cut_line(ranked: np.ndarray, chosen: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The last selected and first unselected rank, and their scores.

    ``chosen`` says which of the eligible households (``ranked``: their positions, best first)
    are selected. Scores do not increase along the ranking, so the lowest selected score is the
    last selected household's and the highest unselected one the first unselected household's.
    """
    picked = np.flatnonzero(chosen)
    passed_over = np.flatnonzero(~chosen)
    last = int(picked[-1]) if len(picked) else None
    first_left = int(passed_over[0]) if len(passed_over) else None
    return {
        "last_selected_rank": None if last is None else last + 1,
        "score_at_cut": None if last is None else float(scores[ranked[last]]),
        "first_unselected_rank": None if first_left is None else first_left + 1,
        "score_first_unselected": (
            None if first_left is None else float(scores[ranked[first_left]])
        ),
    }


def _totals(
    scenario: Scenario,
    n_registry: int,
    *,
    eligible: np.ndarray,
    selected: np.ndarray,
    exposed: np.ndarray,
    bottom40: np.ndarray,
    people: np.ndarray,
    amount: np.ndarray,
    cut: dict[str, Any],
    n_quota_units: int,
) -> dict[str, Any]:
    """Return the headline figures.

    ``eligible`` to ``bottom40`` are per considered household; ``people`` and ``amount`` per
    selected household; ``cut`` is :func:`_cut_line`'s.
    """
    total_amount = checked_total(amount, "caseload")
    n_exposed = int(exposed.sum())
    reached = int((selected & exposed).sum())
    exposed_b40 = exposed & bottom40
    n_exposed_b40 = int(exposed_b40.sum())

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    budget = scenario.budget
    return {
        "registry_households": n_registry,
        "considered": len(eligible),
        "exposed": n_exposed,
        "eligible": int(eligible.sum()),
        "selected": int(selected.sum()),
        "people": int(people.sum(dtype=np.int64)),
        "amount": total_amount,
        "budget_total": budget.total,
        "budget_max_households": budget.max_households,
        "unspent": budget.total - total_amount if budget.total is not None else None,
        "exposed_reached": reached,
        "exposed_reached_share": share(reached, n_exposed),
        "exposed_bottom40": n_exposed_b40,
        "exposed_bottom40_reached_share": share(int((selected & exposed_b40).sum()), n_exposed_b40),
        "cut": {**cut, "quota_units": n_quota_units},
    }
