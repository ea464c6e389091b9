"""Every household considered gets a final decision and its cause (caseload module docstring)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from engine_helpers import FUNDED, changed_scenario, flood_scenario

from rahat.benchmarks.policy import synthetic_exposure
from rahat.engine.exposure import Exposure, HazardExposure
from rahat.engine.targeting import evaluate
from rahat.engine.targeting.caseload import CASELOAD_FIELDS, DECISIONS

N = 4000

BASE = flood_scenario(
    "decisions",
    11,
    45,
    {"dwelling": ["kacha", "semi_pakka"]},
    priority={"weights": {"severity": 0.5, "poverty": 0.5}},
    **FUNDED,
)

_BUDGET_CAUSE = re.compile(
    r"budget: cut at rank (\d+) \(score (\d+\.\d+) ([<=]) (\d+\.\d+) at the cut"
    r"(, ranked after it by the keyed hash)?\)$"
)


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(N, seed=3)


def scenario(**changes):
    return changed_scenario(BASE, **changes)


def cause(reasons: str) -> str:
    return reasons.rsplit(";", 1)[-1]


def test_decision_column_is_grantable_and_in_file_order(exposure) -> None:
    assert "decision" in CASELOAD_FIELDS
    frame = evaluate(scenario(), exposure).frame
    listed = [c for c in CASELOAD_FIELDS if c in frame.columns]
    assert [c for c in frame.columns if c in CASELOAD_FIELDS] == listed
    assert list(frame["decision"].cat.categories) == list(DECISIONS)


def test_every_household_gets_a_decision(exposure) -> None:
    c = evaluate(scenario(), exposure)
    f = c.frame
    decision = f["decision"].astype(str).to_numpy()
    assert (decision == "selected").tolist() == f["selected"].tolist()
    assert (decision == "not_eligible").tolist() == (~f["eligible"]).tolist()
    cut = f["eligible"].to_numpy() & ~f["selected"].to_numpy()
    assert cut.any()
    assert set(decision[cut]) == {"cut_quota"}  # with quotas every cut is a quota's
    assert c.totals["cut"]["cut_by_quota"] == int(cut.sum())
    assert c.totals["cut"]["cut_by_budget"] == 0
    causes = f["reasons"].map(cause)
    assert (causes[f["selected"]] == "selected: within the quota").all()


def test_quota_cut_names_the_unit(exposure) -> None:
    f = evaluate(scenario(), exposure).frame
    cut = f[f["decision"] == "cut_quota"]
    for _, row in cut.iterrows():
        unit = row["district_pcode"] if isinstance(row["district_pcode"], str) else row["district"]
        assert cause(row["reasons"]) == f"quota {unit}: full"
    # the rule results stay in front of the cause
    assert cut["reasons"].str.startswith("depth>=0.3:").all()


def test_budget_cut_gives_rank_and_scores_against_the_cut(exposure) -> None:
    c = evaluate(scenario(quotas=None), exposure)
    f = c.frame
    cut_score = c.totals["cut"]["score_at_cut"]
    assert (f.loc[f["selected"], "reasons"].map(cause) == "selected: within the budget").all()
    cut = f[f["decision"] == "cut_budget"]
    assert len(cut) == c.totals["cut"]["cut_by_budget"] > 0
    assert (f["eligible"] & ~f["selected"]).sum() == len(cut)
    for _, row in cut.iterrows():
        match = _BUDGET_CAUSE.fullmatch(cause(row["reasons"]))
        assert match, row["reasons"]
        rank, score, op, at_cut, _ = match.groups()
        assert int(rank) == row["rank"]
        assert float(score) == pytest.approx(row["score"], abs=10.0 ** -len(score.split(".")[1]))
        assert float(at_cut) == pytest.approx(cut_score, abs=10.0 ** -len(at_cut.split(".")[1]))
        if op == "<":
            assert score != at_cut  # printed with enough decimals to differ
            assert row["score"] < cut_score
        else:
            assert row["score"] == cut_score
    first = cut.iloc[0]
    assert first["rank"] == c.totals["cut"]["first_unselected_rank"]


def test_not_eligible_names_the_failing_rule_and_value(exposure) -> None:
    c = evaluate(scenario(), exposure)
    f = c.frame
    out = f[f["decision"] == "not_eligible"]
    assert len(out) > 0
    pmt_first = out[
        out["reasons"].str.contains("depth>=0.3:pass")
        & out["reasons"].str.contains(r"pmt<=45:fail", regex=False)
    ]
    assert len(pmt_first) > 0
    for _, row in pmt_first.iterrows():
        text = cause(row["reasons"])
        match = re.fullmatch(r"pmt<=45: fail \((.+)\)", text)
        assert match, text
        assert np.float32(match.group(1)) == np.float32(row["pmt_score"])  # the value, exactly
        assert np.float32(match.group(1)) > np.float32(45)
    dwelling = out[
        out["reasons"].str.contains("depth>=0.3:pass")
        & out["reasons"].str.contains("pmt<=45:pass")
        & out["reasons"].str.contains("dwelling=kacha/semi_pakka:fail")
    ]
    assert len(dwelling) > 0
    assert (dwelling["reasons"].map(cause) == "dwelling=kacha/semi_pakka: fail (pakka)").all()
    # not affected: every failing hazard and livelihood rule, each with its value
    unaffected = out[
        out["reasons"].str.contains("depth>=0.3:fail") & out["reasons"].str.contains("@kharif:fail")
    ]
    assert len(unaffected) > 0
    registry = exposure.registry.frame
    livelihood_of = dict(
        zip(registry["household_id"], registry["livelihood"].astype(str), strict=True)
    )
    for _, row in unaffected.iterrows():
        text = cause(row["reasons"])
        match = re.match(r"depth>=0\.3: fail \(([^)]+)\) and ", text)
        assert match, text
        if np.isnan(row["depth_intensity"]):
            assert match.group(1) == "no data"
        else:
            assert np.float32(match.group(1)) == np.float32(row["depth_intensity"])
        who = livelihood_of[row["household_id"]]
        livelihood = f"crop_farming/livestock&depth>=0.05@kharif: fail ({who}, "
        assert livelihood in text, text


def test_threshold_values_are_shown_in_the_layer_dtype() -> None:
    base = synthetic_exposure(200, seed=1)
    depth = np.full(200, np.float32(0.29999998), dtype=np.float32)  # one ulp under float32(0.3)
    exposure = Exposure(
        registry=base.registry,
        hazards={
            "depth": HazardExposure(
                name="depth",
                kind="flood_depth",
                units="m",
                intensity=depth,
                hazard_class=np.ones(200, dtype=np.int8),
                class_labels=base.hazards["depth"].class_labels,
            )
        },
    )
    s = scenario(eligibility={"hazard": [{"layer": "depth", "min_intensity": 0.3}]}, quotas=None)
    f = evaluate(s, exposure).frame
    assert (f["decision"] == "not_eligible").all()
    # "0.3" would contradict the failed rule; the float32 value is shown as it is
    assert set(f["reasons"].map(cause)) == {"depth>=0.3: fail (0.29999998)"}


def test_reasons_do_not_depend_on_registry_order(exposure) -> None:
    s = scenario()
    a = evaluate(s, exposure).frame
    order = np.random.default_rng(5).permutation(N)
    layer = exposure.hazards["depth"]
    shuffled = Exposure(
        registry=exposure.registry.take(order),
        hazards={
            "depth": HazardExposure(
                name="depth",
                kind="flood_depth",
                units="m",
                intensity=layer.intensity[order].copy(),
                hazard_class=layer.hazard_class[order].copy(),
                class_labels=layer.class_labels,
            )
        },
    )
    b = evaluate(s, shuffled).frame
    assert a["household_id"].tolist() == b["household_id"].tolist()
    assert a["reasons"].astype(str).tolist() == b["reasons"].astype(str).tolist()
    assert a["decision"].tolist() == b["decision"].tolist()
    summary_a, summary_b = evaluate(s, exposure).summary(), evaluate(s, shuffled).summary()
    assert summary_a.to_csv(index=False) == summary_b.to_csv(index=False)
