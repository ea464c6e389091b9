"""Plain-language explanations of empty or surprising caseloads.

For an empty result the explanation finds the binding rule: it counts the households that pass
every *other* rule, and for a PMT cut-off or a hazard threshold it finds the nearest looser value
that would admit some (``"0 households: the footprint covers no registered household with
PMT <= 32; 12,345 would qualify at PMT <= 40"``). Other messages flag a budget that reaches few
eligible households, much unspent money, units with eligible households but no quota, and
notified units absent from the registry.

:func:`failure_causes` says, for each household that is not eligible, which rule failed and with
what value (``pmt<=32: fail (41.2)``; a stale record excluded by ``stale_records``: ``stale
record (not updated for more than 5 years)``), for the ``reasons`` column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.rules import RuleResult, RuleSet, at_least, at_most
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.stale import registry_stale, stale_texts
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
        _, missing = admin_units(exposure, notified.level, scenario.admin_units).match(
            notified.units
        )
        if missing:
            out.append(
                f"notified {notified.level}(s) with no registered household: {', '.join(missing)}"
            )
    return out


#: Text per element as (code per element, text per code): formats each distinct text once.
Coded = tuple[np.ndarray, list[str]]


def join_codes(a: Coded, b: Coded, sep: str) -> Coded:
    """Join two coded text columns element by element.

    Each distinct pair is formatted once: ``f"{a}{sep}{b}"``, or just ``b`` where ``a`` is
    empty and ``a`` where ``b`` is.
    """
    (a_codes, a_texts), (b_codes, b_texts) = a, b
    nb = max(len(b_texts), 1)
    pair = np.asarray(a_codes, dtype=np.int64) * nb + np.asarray(b_codes, dtype=np.int64)
    used, inverse = np.unique(pair, return_inverse=True)
    texts = []
    for u in used.tolist():
        first, second = a_texts[u // nb], b_texts[u % nb]
        texts.append(f"{first}{sep}{second}" if first and second else first or second)
    return inverse.reshape(-1).astype(np.int64), texts


def _constant(n: int, text: str) -> Coded:
    return np.zeros(n, dtype=np.int64), [text]


def _numbers(values: np.ndarray) -> Coded:
    """Format numbers as the shortest text that reads back in their own dtype (NaN: no data)."""
    values = np.asarray(values)
    uniq, inverse = np.unique(values, return_inverse=True)
    if values.dtype.kind == "f":
        text = ["no data" if np.isnan(v) else np.format_float_positional(v, trim="-") for v in uniq]
    else:
        text = [str(v) for v in uniq]
    return inverse.reshape(-1).astype(np.int64), text


def _labels(codes: np.ndarray, labels: Any, missing: str) -> Coded:
    """Return ``labels[code]`` per code, ``missing`` for codes outside the labels."""
    table = [*map(str, labels), missing]
    codes = np.asarray(codes, dtype=np.int64)
    return np.where((codes >= 0) & (codes < len(table) - 1), codes, len(table) - 1), table


def _category(exposure: Exposure, column: str, rows: np.ndarray) -> Coded:
    frame = exposure.registry.frame
    if column not in frame.columns:
        return _constant(len(rows), "none")
    col = frame[column]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    return _labels(exposure.registry.array(column)[rows], col.cat.categories, "none")


def _layer_values(exposure: Exposure, layer_name: str, by_class: bool, rows: np.ndarray) -> Coded:
    layer = exposure.hazards[layer_name]
    if by_class:
        return _labels(layer.hazard_class[rows], layer.class_labels, "no data")
    return _numbers(layer.intensity[rows])


def _zone_values(exposure: Exposure, layer: str, rows: np.ndarray) -> Coded:
    zone = exposure.zones[layer]
    return _labels(zone.codes[rows], zone.table["name"].to_numpy(dtype=object), f"no {layer} zone")


def _rule_values(
    scenario: Scenario, exposure: Exposure, rule: RuleResult, rows: np.ndarray
) -> Coded:
    """Return the household values a rule tested, as text, for the households at ``rows``."""
    e = scenario.eligibility
    n = len(rows)
    if rule.key == "hazard":
        spec = e.hazard[rule.index]
        value = _layer_values(exposure, spec.layer, spec.min_class is not None, rows)
        if spec.where is None:
            return value
        return join_codes(value, _zone_values(exposure, spec.where.layer, rows), " in ")
    if rule.key == "livelihood":
        lspec = e.livelihood[rule.index]
        if lspec.seasons is not None and scenario.season not in lspec.seasons:
            return _constant(n, f"season {scenario.season}")
        who = _category(exposure, "livelihood", rows)
        what = _layer_values(exposure, lspec.layer, lspec.min_class is not None, rows)
        return join_codes(who, what, ", ")
    if rule.key == "pmt":
        return _numbers(exposure.registry.array("pmt_score")[rows])
    if rule.key == "area_relative":
        pmt = _numbers(exposure.registry.array("pmt_score")[rows])
        return join_codes(_constant(n, "pmt"), pmt, " ")
    if rule.key == "notified":
        assert e.notified is not None
        units = admin_units(exposure, e.notified.level, scenario.admin_units)
        return _labels(units.codes[rows], units.names, "no unit")
    if rule.key == "zone":
        return _zone_values(exposure, e.zone[rule.index].layer, rows)
    if rule.key == "dwelling":
        return _category(exposure, "dwelling", rows)
    if rule.key == "assisted":
        return _constant(n, "on an assisted-households list")
    if rule.key == "programmes":
        return _category(exposure, "programmes", rows)
    return _constant(n, "")


def _failures(scenario: Scenario, exposure: Exposure, rule: RuleResult, rows: np.ndarray) -> Coded:
    if rule.key == "stale":  # stale record (not updated for more than 5 years)
        assert scenario.stale_records is not None
        years = scenario.stale_records.older_than_years
        return stale_texts(registry_stale(exposure.registry, years).updated[rows], years)
    codes, values = _rule_values(scenario, exposure, rule, rows)
    return codes, [f"{rule.label}: fail ({v})" if v else f"{rule.label}: fail" for v in values]


def failure_causes(
    scenario: Scenario, exposure: Exposure, rules: RuleSet, rows: np.ndarray
) -> Coded:
    """Return why each household at ``rows`` (registry positions) is not eligible.

    A household that is not *affected* gets every hazard and livelihood rule it fails
    (``depth>=0.3: fail (0.12)``, joined by `` and ``); an affected one the first gate it fails,
    in rule order (``pmt<=32: fail (41.2)``). Values are the household's own, in the layer's or
    column's dtype (``no data`` for NaN).

    Parameters
    ----------
    scenario, exposure
        What was evaluated.
    rules
        The evaluated rules.
    rows
        Positions in the registry of households that are not eligible.

    Returns
    -------
    tuple
        ``(codes, texts)``: the cause of household ``i`` is ``texts[codes[i]]``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    codes = np.zeros(len(rows), dtype=np.int64)
    texts = ["not eligible"]

    def put(where: np.ndarray, coded: Coded) -> None:
        codes[where] = coded[0] + len(texts)
        texts.extend(coded[1])

    unaffected = np.flatnonzero(~rules.affected[rows])
    joined: Coded | None = None  # the failing hazard and livelihood rules, joined
    for rule in rules.rules:
        if not rule.affects or len(unaffected) == 0:
            continue
        failed = ~rule.passed[rows[unaffected]]
        if not failed.any():
            continue
        mine = _failures(scenario, exposure, rule, rows[unaffected[failed]])
        part = np.zeros(len(unaffected), dtype=np.int64), [""]
        part[0][failed] = mine[0] + 1
        part[1].extend(mine[1])
        joined = part if joined is None else join_codes(joined, part, " and ")
    if joined is not None:
        put(unaffected, joined)
    pending = rules.affected[rows].copy()
    for rule in rules.rules:
        if rule.affects:
            continue
        failed = np.flatnonzero(pending & ~rule.passed[rows])
        if len(failed) == 0:
            continue
        put(failed, _failures(scenario, exposure, rule, rows[failed]))
        pending[failed] = False
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        codes[np.isin(codes, empty)] = 0
    return codes, texts
