"""Evaluate a scenario on an exposure: rules, priority, ranking, budget fill -> :class:`Caseload`.

Everything is vectorised over households (NumPy arrays, categorical codes); nothing is read from
disk except the scenario's small assisted-households lists (cached by file stamp), so
re-evaluating a variant of a scenario on a cached exposure costs only the arithmetic.
Determinism: the same scenario and exposure give the same frame, row order and values; the rows
are ordered by rank, then by household id, never by the registry's row order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.benefit import benefits, fixed_amount
from rahat.engine.targeting.budget import allocate
from rahat.engine.targeting.caseload import (
    DECISIONS,
    REGISTRY_FIELDS,
    ZONE_COLUMNS,
    ZONE_FIELD_SUFFIX,
    Caseload,
)
from rahat.engine.targeting.explain import Coded, explain, failure_causes, join_codes
from rahat.engine.targeting.memo import memoised
from rahat.engine.targeting.money import checked_total
from rahat.engine.targeting.priority import COMPONENTS, components, score
from rahat.engine.targeting.ranking import keyed_hash, rank_order
from rahat.engine.targeting.rules import RuleSet, evaluate_rules
from rahat.engine.targeting.scenario import Scenario
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


def _reasons(rules: RuleSet, idx: np.ndarray, causes: Coded | None = None) -> Any:
    """Return the reasons string of each household at ``idx`` (built once per combination).

    ``causes`` (coded text per household, optional) is appended after a ``;``: the cause of the
    household's final decision. Categories are sorted by value.
    """
    if causes is not None:
        combos = _reasons(rules, idx)
        combo_codes = np.asarray(combos.codes, dtype=np.int64)
        codes, texts = join_codes((combo_codes, list(combos.categories)), causes, ";")
        order = sorted(range(len(texts)), key=texts.__getitem__)
        sorted_code = np.empty(len(order), dtype=np.int64)
        sorted_code[order] = np.arange(len(order))
        return pd.Categorical.from_codes(
            sorted_code[codes], categories=pd.Index([texts[i] for i in order], dtype=object)
        )
    if not rules.rules:
        return pd.Categorical(np.full(len(idx), "", dtype=object))
    bits = np.zeros(len(idx), dtype=np.int64)
    for i, rule in enumerate(rules.rules):
        bits |= rule.passed[idx].astype(np.int64) << i
    if len(rules.rules) <= 20:  # O(n): mark the combinations present, then look them up
        used = np.flatnonzero(np.bincount(bits, minlength=1 << len(rules.rules)))
        lookup = np.zeros(1 << len(rules.rules), dtype=np.int64)
        lookup[used] = np.arange(len(used))
        inverse = lookup[bits]
    else:
        used, inverse = np.unique(bits, return_inverse=True)
    labels = [
        ";".join(
            f"{r.label}:{'pass' if (int(b) >> i) & 1 else 'fail'}"
            for i, r in enumerate(rules.rules)
        )
        for b in used
    ]
    categories = sorted(set(labels))
    position = {label: i for i, label in enumerate(categories)}
    codes = np.array([position[label] for label in labels], dtype=np.int32)[inverse]
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))


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


def _score_vs_cut(value: float, cut: float) -> str:
    """Return ``score 0.412 < 0.415 at the cut`` with enough decimals to tell them apart."""
    if value >= cut:
        return f"score {value:.3f} = {cut:.3f} at the cut, ranked after it by the keyed hash"
    for decimals in range(3, 18):
        a, b = f"{value:.{decimals}f}", f"{cut:.{decimals}f}"
        if a != b:
            break
    return f"score {a} < {b} at the cut"


def _causes(
    decision: np.ndarray,
    rank: np.ndarray,
    scores: np.ndarray,
    cut_score: float | None,
    quota_unit: np.ndarray,
    unit_labels: list[str],
    with_quotas: bool,
    not_eligible: Coded,
) -> Coded:
    """Return the cause of each household's decision (caseload module docstring), coded.

    ``decision`` holds codes into :data:`DECISIONS`; ``quota_unit`` the quota unit of each
    household (index into ``unit_labels``); ``not_eligible`` the causes of the households whose
    decision is ``not_eligible``, in their order.
    """
    codes = np.zeros(len(decision), dtype=np.int64)
    within = "the quota" if with_quotas else "the budget"
    texts = [f"selected: within {within}"]  # code 0
    quota = np.flatnonzero(decision == 2)
    codes[quota] = quota_unit[quota] + len(texts)
    texts.extend(f"quota {label}: full" for label in unit_labels)
    outside = np.flatnonzero(decision == 3)
    codes[outside] = not_eligible[0] + len(texts)
    texts.extend(not_eligible[1])
    budget = np.flatnonzero(decision == 1)
    codes[budget] = np.arange(len(budget)) + len(texts)
    if cut_score is None:
        texts.extend(
            f"budget: cut at rank {rank[i]} (the budget pays for no household)" for i in budget
        )
    else:
        texts.extend(
            f"budget: cut at rank {rank[i]} ({_score_vs_cut(float(scores[i]), cut_score)})"
            for i in budget
        )
    return codes, texts


def _column(exposure: Exposure, name: str, rows: np.ndarray) -> Any:
    column = exposure.registry.frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = exposure.registry.array(name)[rows]
        return pd.Categorical.from_codes(codes, dtype=column.dtype)
    return exposure.registry.array(name)[rows]


def _zone_column(exposure: Exposure, layer: str, rows: np.ndarray) -> Any:
    """Zone name per household at ``rows`` (categorical; missing where in no zone or no layer)."""
    zone = exposure.zones.get(layer)
    if zone is None:
        return pd.Categorical.from_codes(np.full(len(rows), -1), categories=pd.Index([]))
    names = zone.table["name"].astype(str).to_numpy(dtype=object)
    categories = sorted(set(names))
    position = {n: i for i, n in enumerate(categories)}
    lookup = np.array([position[n] for n in names] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[zone.codes[rows]], categories=pd.Index(categories))


def evaluate(scenario: Scenario, exposure: Exposure) -> Caseload:
    """Evaluate ``scenario`` on ``exposure`` and return the ranked, budgeted caseload.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`~rahat.engine.targeting.scenario.load_scenario`).
    exposure
        The overlay of the scenario's hazard layers on a registry.

    Returns
    -------
    Caseload
        One row per household considered, with rank, selection, score components, benefit and
        reasons; totals, per-unit quotas, explanations and provenance.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If the exposure lacks a hazard layer the scenario's rules need.
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

    parts = components(scenario, exposure, idx)
    scores = score(scenario, parts)
    entitled = np.where(eligible_c, benefits(scenario, exposure, idx), 0).astype(np.int64)

    hid = registry.household_id
    e_pos = np.flatnonzero(eligible_c)
    e_rows = idx[e_pos]
    order = rank_order(scores[e_pos], keyed_hash(hid[e_rows], scenario.seed), hid[e_rows])
    ranked = e_pos[order]  # positions in idx, rank order

    units, shares = _quota_shares(scenario, exposure)
    if units is not None:
        unit_codes = units.codes[idx[ranked]].astype(np.int64)
        n_units = len(units)
    else:
        unit_codes = np.zeros(len(ranked), dtype=np.int64)
        n_units = 1
    alloc = allocate(
        unit_codes, entitled[ranked], n_units, scenario.budget, fixed_amount(scenario), shares
    )

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
    quota_unit = np.zeros(len(idx), dtype=np.int64)  # index into unit_labels
    quota_unit[ranked] = np.where(unit_codes >= 0, unit_codes, n_units)
    if units is not None:
        unit_labels = [
            str(code) if code is not None else str(name)
            for name, code in zip(units.names, units.pcodes, strict=True)
        ] + ["(unknown unit)"]
    else:
        unit_labels = ["(all)", "(unknown unit)"]
    amount = np.where(selected, entitled, 0).astype(np.int64)
    exposed_c = exposed[idx]
    bottom40_c = registry.array("pmt_score")[idx] <= bottom40_bound(exposure)

    quotas = _quota_table(alloc.quotas, units, ranked, unit_codes, alloc.selected, scores, rank)
    totals = _totals(
        scenario,
        len(registry),
        eligible=eligible_c,
        selected=selected,
        exposed=exposed_c,
        bottom40=bottom40_c,
        people=registry.array("household_size")[idx],
        amount=amount,
        rank=rank,
        scores=scores,
        n_quota_units=len(quotas),
    )
    totals["cut"]["cut_by_budget"] = int((decision == DECISIONS.index("cut_budget")).sum())
    totals["cut"]["cut_by_quota"] = int((decision == DECISIONS.index("cut_quota")).sum())
    totals["cut"]["quota_units_full"] = len(
        np.unique(quota_unit[decision == DECISIONS.index("cut_quota")])
    )
    messages = explain(scenario, exposure, rules, totals, quotas)

    def build_frame() -> pd.DataFrame:
        # Eligible households in rank order, then the others by household id.
        others = np.flatnonzero(~eligible_c)
        others = others[np.argsort(hid[idx[others]], kind="stable")]
        row = np.concatenate([ranked, others])
        rows = idx[row]
        causes = _causes(
            decision[row],
            rank[row],
            scores[row],
            totals["cut"]["score_at_cut"],
            quota_unit[row],
            unit_labels,
            units is not None,
            failure_causes(scenario, exposure, rules, idx[others]),
        )
        data: dict[str, Any] = {
            "household_id": hid[rows],
            "rank": pd.array(rank[row], dtype="Int64"),
            "selected": selected[row],
            "eligible": eligible_c[row],
            "exposed": exposed_c[row],
            "bottom40": bottom40_c[row],
            "score": scores[row],
        }
        data["rank"][~eligible_c[row]] = pd.NA
        for name in COMPONENTS:
            data[f"score_{name}"] = parts[name][row]
        data["benefit"] = entitled[row]
        data["amount"] = amount[row]
        data["decision"] = pd.Categorical.from_codes(
            decision[row], categories=pd.Index(list(DECISIONS))
        )
        data["reasons"] = _reasons(rules, rows, causes)
        for name in REGISTRY_FIELDS:
            if name in registry.frame.columns:
                data[name] = _column(exposure, name, rows)
        for spec in scenario.hazards:
            layer = exposure.hazards.get(spec.name)
            if layer is None:
                continue
            data[f"{spec.name}_intensity"] = layer.intensity[rows]
            codes = layer.hazard_class[rows].astype(np.int64)
            data[f"{spec.name}_class"] = pd.Categorical.from_codes(
                np.where(codes >= 0, codes, -1), categories=pd.Index(list(layer.class_labels))
            )
        for name, zone_name in ZONE_COLUMNS.items():
            data[name] = _zone_column(exposure, zone_name, rows)
        for zspec in scenario.zones:
            data[f"{zspec.name}{ZONE_FIELD_SUFFIX}"] = _zone_column(exposure, zspec.name, rows)
        return pd.DataFrame(data)

    return Caseload(
        scenario=scenario,
        totals=totals,
        quotas=quotas,
        messages=messages,
        hazard_sha256={name: h.sha256 for name, h in exposure.hazards.items()},
        registry=registry,
        build_frame=build_frame,
        warnings=tuple(rules.warnings),
    )


def _quota_table(
    table: pd.DataFrame,
    units: Any,
    ranked: np.ndarray,
    unit_codes: np.ndarray,
    chosen: np.ndarray,
    scores: np.ndarray,
    rank: np.ndarray,
) -> pd.DataFrame:
    n_units = len(table) - 1
    unit = np.where(unit_codes >= 0, unit_codes, n_units)
    last_rank = np.zeros(n_units + 1, dtype=np.int64)
    cut_score = np.full(n_units + 1, np.nan)
    if chosen.any():
        np.maximum.at(last_rank, unit[chosen], rank[ranked[chosen]])
        np.fmin.at(cut_score, unit[chosen], scores[ranked[chosen]])
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
    rank: np.ndarray,
    scores: np.ndarray,
    n_quota_units: int,
) -> dict[str, Any]:
    """Return the headline figures from per-considered-household arrays."""
    total_amount = checked_total(amount, "caseload")
    n_exposed = int(exposed.sum())
    reached = int((selected & exposed).sum())
    exposed_b40 = exposed & bottom40
    n_exposed_b40 = int(exposed_b40.sum())
    unselected = eligible & ~selected

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    budget = scenario.budget
    return {
        "registry_households": n_registry,
        "considered": len(eligible),
        "exposed": n_exposed,
        "eligible": int(eligible.sum()),
        "selected": int(selected.sum()),
        "people": int(people[selected].sum(dtype=np.int64)),
        "amount": total_amount,
        "budget_total": budget.total,
        "budget_max_households": budget.max_households,
        "unspent": budget.total - total_amount if budget.total is not None else None,
        "exposed_reached": reached,
        "exposed_reached_share": share(reached, n_exposed),
        "exposed_bottom40": n_exposed_b40,
        "exposed_bottom40_reached_share": share(int((selected & exposed_b40).sum()), n_exposed_b40),
        "cut": {
            "last_selected_rank": int(rank[selected].max()) if selected.any() else None,
            "score_at_cut": float(scores[selected].min()) if selected.any() else None,
            "first_unselected_rank": int(rank[unselected].min()) if unselected.any() else None,
            "score_first_unselected": float(scores[unselected].max()) if unselected.any() else None,
            "quota_units": n_quota_units,
        },
    }
