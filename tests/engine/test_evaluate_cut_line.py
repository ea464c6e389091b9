"""The cut line and the quota table, worked out from the ranking, equal their definitions.

The evaluation reads the last selected and first unselected rank and score, each unit's last
selected rank and score at its cut, and the number of full units from the ranked order (scores
do not increase along it). These tests recompute each from the caseload's frame by its
definition (a maximum, a minimum or a count over masks) on caseloads where every case occurs.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from engine_helpers import FUNDED, changed_scenario, flood_scenario

from rahat.benchmarks.policy import synthetic_exposure
from rahat.engine.exposure import Exposure
from rahat.engine.targeting import evaluate
from rahat.engine.targeting.scored import KEPT, scored_order
from rahat.geo import jit as _jit

BASE = flood_scenario(
    "cut",
    5,
    45,
    {},
    priority={"weights": {"severity": 0.5, "poverty": 0.3, "kacha": 0.2}},
    **FUNDED,
)

CASES = {
    "quotas_all_full": {},
    "quotas_some_full": {
        "quotas": {
            "level": "district",
            "mode": "fixed",
            "shares": {"Dadu": 0.85, "Jacobabad": 0.1, "Larkana": 0.05},
        },
        "budget": {"total": 6_000_000},
    },
    "budget_only": {"quotas": None},
    "everyone_funded": {"quotas": None, "budget": {"total": 10**11}},
    "nobody_funded": {"budget": {"total": 0}},
    "coarse_scores": {"priority.weights": {"kacha": 1.0}},  # long runs of equal scores
}


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(3000, seed=11)


@pytest.fixture(params=[False, True], ids=["numpy", "kernels"])
def ready(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Evaluate as a process without numba (NumPy sorts) and with it (kept orders, kernels)."""
    monkeypatch.setattr(_jit, "_READY", request.param)
    return bool(request.param)


def _or_none(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def _cut_by_definition(frame: pd.DataFrame) -> dict[str, object]:
    chosen = frame["selected"].to_numpy(bool)
    left = frame["eligible"].to_numpy(bool) & ~chosen
    rank, score = frame["rank"].to_numpy(), frame["score"].to_numpy()
    return {
        "last_selected_rank": int(rank[chosen].max()) if chosen.any() else None,
        "score_at_cut": float(score[chosen].min()) if chosen.any() else None,
        "first_unselected_rank": int(rank[left].min()) if left.any() else None,
        "score_first_unselected": float(score[left].max()) if left.any() else None,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_cut_line_equals_its_definition(exposure: Exposure, case: str, ready: bool) -> None:
    caseload = evaluate(changed_scenario(BASE, **CASES[case]), exposure)
    cut = caseload.totals["cut"]
    assert {k: cut[k] for k in _cut_by_definition(caseload.frame)} == _cut_by_definition(
        caseload.frame
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_quota_table_and_full_units_equal_their_definition(
    exposure: Exposure, case: str, ready: bool
) -> None:
    scenario = changed_scenario(BASE, **CASES[case])
    caseload = evaluate(scenario, exposure)
    frame = caseload.frame
    full = frame.loc[frame["decision"] == "cut_quota", "district"]
    assert caseload.totals["cut"]["quota_units_full"] == full.nunique(dropna=False)
    if scenario.quotas is None:
        return
    chosen = frame[frame["selected"]]
    by_unit = chosen.groupby("district", dropna=False, observed=True).agg(
        last=("rank", "max"), cut=("score", "min")
    )
    for row in caseload.quotas.itertuples():
        key = row.name if row.name != "(unknown)" else np.nan
        if row.selected == 0:
            assert pd.isna(row.last_selected_rank) and math.isnan(row.score_at_cut)
            continue
        found = by_unit.loc[key]
        assert (row.last_selected_rank, row.score_at_cut) == (found["last"], found["cut"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_and_kernel_evaluations_are_identical(
    exposure: Exposure, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = changed_scenario(BASE, **CASES[case])
    monkeypatch.setattr(_jit, "_READY", False)
    numpy_way = evaluate(scenario, exposure)
    monkeypatch.setattr(_jit, "_READY", True)
    evaluate(changed_scenario(BASE, **{"eligibility.pmt_cutoff": 60}), exposure)  # kept order
    kernel_way = evaluate(scenario, exposure)
    pd.testing.assert_frame_equal(numpy_way.frame, kernel_way.frame)
    pd.testing.assert_frame_equal(numpy_way.quotas, kernel_way.quotas)
    assert numpy_way.totals == kernel_way.totals


def test_cases_cover_full_and_open_units_and_empty_cuts(exposure: Exposure) -> None:
    """Every branch the tests above check occurs in one of the cases."""
    totals = {c: evaluate(changed_scenario(BASE, **CASES[c]), exposure).totals for c in CASES}
    some = totals["quotas_some_full"]["cut"]
    assert 0 < some["quota_units_full"] < some["quota_units"]
    assert totals["everyone_funded"]["cut"]["first_unselected_rank"] is None
    assert totals["nobody_funded"]["cut"]["last_selected_rank"] is None
    assert totals["budget_only"]["cut"]["cut_by_budget"] > 0


def test_scored_order_is_kept_per_priority_and_recomputed_when_it_changes() -> None:
    """A changed weight, seed or considered set is a new order; the same inputs reuse it."""
    exposure = synthetic_exposure(3000, seed=12)  # its own registry: nothing kept from others
    one = changed_scenario(BASE)
    idx = np.flatnonzero(exposure.hazards["depth"].hazard_class >= 1)
    first = scored_order(one, exposure, idx, None)
    assert (
        scored_order(changed_scenario(BASE, **{"eligibility.pmt_cutoff": 20}), exposure, idx, None)
        is first
    )
    layer = exposure.hazards["depth"]
    reversed_depth = replace(
        layer, intensity=layer.intensity[::-1].copy(), hazard_class=layer.hazard_class[::-1].copy()
    )
    other_hazard = replace(exposure, hazards={**exposure.hazards, "depth": reversed_depth})
    moved = scored_order(one, other_hazard, idx, None)  # same registry, other exposure
    assert moved.scores.tolist() != first.scores.tolist()
    fewer = scored_order(one, exposure, idx[1:], None)  # same scenario, other households
    assert len(fewer.order) == len(idx) - 1
    for changes in ({"priority.weights": {"poverty": 1.0}}, {"seed": 6}):
        other = scored_order(changed_scenario(BASE, **changes), exposure, idx, None)
        assert other is not first
        assert other.order.tolist() != first.order.tolist()
    assert KEPT >= 2  # a what-if's base and variant are both kept
