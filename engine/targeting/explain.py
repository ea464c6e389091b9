"""Plain-language explanations of empty or surprising caseloads.

For an empty result the explanation finds the binding rule: it counts the households that pass
every *other* rule, and for a PMT cut-off or a hazard threshold it finds the nearest looser value
that would admit some (``"0 households: the footprint covers no registered household with
PMT <= 32; 12,345 would qualify at PMT <= 40"``). Other messages flag a budget that reaches few
eligible households, much unspent money, units with eligible households but no quota, and
notified units absent from the registry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.rules import RuleResult, RuleSet, at_least, at_most
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.units import admin_units


def _n(x: int) -> str:
    return f"{x:,}"


def _all_but(rules: RuleSet, skip: RuleResult | None) -> np.ndarray:
    """Households passing every gate except ``skip`` (and ``affected`` unless skip affects)."""
    masks = [r.passed for r in rules.rules if not r.affects and r is not skip]
    if skip is None or not skip.affects:
        masks.append(rules.affected)
    out = np.ones(len(rules.eligible), dtype=bool)
    for m in masks:
        out &= m
    return out


def _looser_pmt(
    scenario: Scenario, exposure: Exposure, others: np.ndarray, cutoff: float
) -> str | None:
    pmt = exposure.registry.array("pmt_score")[others]
    for step in range(4, 101, 4):
        alt = min(cutoff + step, 100.0)
        count = int(at_most(pmt, alt).sum())
        if count:
            return f"{_n(count)} would qualify at PMT <= {alt:g}"
        if alt >= 100:
            break
    return None


def _looser_hazard(
    scenario: Scenario, exposure: Exposure, rule: RuleResult, others: np.ndarray
) -> str | None:
    spec = scenario.eligibility.hazard[rule.index]
    if spec.min_intensity is None or spec.max_intensity is not None:
        return None
    values = exposure.hazards[spec.layer].intensity[others]
    for factor in (0.5, 0.25, 0.1):
        alt = float(f"{spec.min_intensity * factor:.3g}")
        count = int(at_least(values, alt).sum())
        if count:
            return f"{_n(count)} would qualify at {spec.layer} >= {alt:g}"
    return None


def _empty(scenario: Scenario, exposure: Exposure, rules: RuleSet) -> list[str]:
    if not rules.affected.any():
        layers = [h.name for h in scenario.hazards if h.name in exposure.hazards]
        covered = sum(int(np.isfinite(exposure.hazards[n].intensity).sum()) for n in layers)
        return [
            "0 households: the hazard footprint covers no registered household that meets the "
            f"hazard rules ({_n(covered)} households lie inside the layers "
            f"{', '.join(layers) or '(none)'}); check the thresholds and that the layer "
            "overlaps the registry"
        ]
    out: list[str] = []
    for rule in rules.rules:
        if rule.affects:
            continue
        others = _all_but(rules, rule)
        if not others.any():
            continue
        hint: str | None = None
        if rule.key == "pmt":
            cutoff = scenario.eligibility.pmt_cutoff
            assert cutoff is not None
            hint = _looser_pmt(scenario, exposure, others, cutoff)
            what = f"PMT <= {cutoff:g}"
        else:
            what = f"rule '{rule.label}'"
        scope = "the footprint covers" if scenario.eligibility.hazard else "the scenario covers"
        msg = f"0 households: {scope} no registered household with {what}"
        msg += f"; {hint}" if hint else f"; {_n(int(others.sum()))} pass every other rule"
        out.append(msg)
    if not out:
        for rule in rules.rules:
            if rule.key == "hazard":
                hint = _looser_hazard(scenario, exposure, rule, _all_but(rules, rule))
                if hint:
                    out.append(
                        f"0 households: none meets '{rule.label}' and the other rules; {hint}"
                    )
    if not out:
        passing = {r.label: int(r.passed.sum()) for r in rules.rules}
        detail = ", ".join(f"{k}: {_n(v)}" for k, v in passing.items())
        out.append(f"0 households: no household passes all rules together (each alone: {detail})")
    return out


def explain(
    scenario: Scenario,
    exposure: Exposure,
    rules: RuleSet,
    totals: dict[str, Any],
    quotas: pd.DataFrame,
) -> list[str]:
    """Return explanations of an empty or surprising caseload (empty list when unremarkable).

    Parameters
    ----------
    scenario, exposure
        What was evaluated.
    rules
        The evaluated rules.
    totals
        The caseload totals.
    quotas
        The per-unit quota table.
    """
    out: list[str] = []
    if totals["eligible"] == 0:
        out.extend(_empty(scenario, exposure, rules))
    elif totals["selected"] == 0:
        out.append(
            f"0 households selected out of {_n(totals['eligible'])} eligible: the budget "
            f"(total {totals['budget_total']}, max households {totals['budget_max_households']}) "
            "does not cover one transfer"
        )
    elif totals["selected"] < totals["eligible"]:
        share = totals["selected"] / totals["eligible"]
        if share < 0.5:
            cut = totals["cut"]
            out.append(
                f"the budget reaches {_n(totals['selected'])} of {_n(totals['eligible'])} "
                f"eligible households ({share:.0%}); the cut is at rank "
                f"{cut['last_selected_rank']} (score {cut['score_at_cut']:.4f})"
            )
    if totals["budget_total"] and totals["unspent"] is not None:
        unspent = totals["unspent"]
        if unspent > 0.1 * totals["budget_total"]:
            out.append(
                f"Rs {_n(unspent)} of the Rs {_n(totals['budget_total'])} budget is unspent: "
                "the eligible households (or their quotas) need less"
            )
    starved = quotas[(quotas["eligible"] > 0) & (quotas["selected"] == 0)]
    if len(starved) and totals["selected"] > 0:
        names = ", ".join(map(str, starved["name"].head(5)))
        more = f" and {len(starved) - 5} more" if len(starved) > 5 else ""
        out.append(
            f"{len(starved)} unit(s) with eligible households got none (quota too small or "
            f"zero): {names}{more}"
        )
    notified = scenario.eligibility.notified
    if notified is not None:
        _, missing = admin_units(exposure, notified.level).match(notified.units)
        if missing:
            out.append(
                f"notified {notified.level}(s) with no registered household: {', '.join(missing)}"
            )
    return out
