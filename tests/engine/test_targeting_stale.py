"""Scenario option ``stale_records``: flag, down-weight or exclude records older than N years.

Every figure is re-computed with pandas from the caseload frame and the registry's
``last_updated`` dates, counted as the gap table counts them (to the registry's latest date).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.exposure import Exposure
from rahat.engine.targeting import Caseload, evaluate, load_scenario
from rahat.engine.targeting.caseload import SUMMARY_COLUMNS
from rahat.geo.errors import ScenarioError
from rahat.geo.registry.model import Registry

#: The registry's latest update; every age is counted to it.
LATEST = pd.Timestamp("2023-06-30")


def dated_exposure(n: int = 3000, seed: int = 5) -> Exposure:
    """The synthetic exposure with a ``last_updated`` date per record (0 to 10 years old).

    Three records sit on the 4-year boundary: exactly 1461 days old (4 x 365.25 = 1461, not
    older), and 1462 days (older); one has no date.
    """
    base = synthetic_exposure(n, seed=seed)
    frame = base.registry.frame.copy()
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 3653, n)
    days[0] = 0  # the latest date
    days[1:3] = [1461, 1462]
    updated = pd.Series(LATEST - pd.to_timedelta(days, unit="D"))
    updated.iloc[3] = pd.NaT
    frame["last_updated"] = updated.to_numpy()
    return Exposure(registry=Registry.from_frame(frame), hazards=base.hazards)


def scenario(**extra: Any) -> dict[str, Any]:
    """The benchmark scenario with a household budget (so some eligible are cut)."""
    return {**BENCH_SCENARIO, "budget": {"max_households": 150}, **extra}


def expected_stale(exposure: Exposure, ids: pd.Series, years: float) -> np.ndarray:
    """Whether each household of ``ids`` is older than ``years`` (pandas, from the dates)."""
    frame = exposure.registry.frame.set_index("household_id")
    updated = pd.to_datetime(frame.loc[ids.to_numpy(), "last_updated"])
    age = (LATEST - updated).dt.days
    return (age > years * 365.25).fillna(False).to_numpy(dtype=bool)


def side_by_side(
    caseload: Caseload, plain: Caseload, exposure: Exposure, years: float
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Both frames by household id (in ``caseload``'s order) and which records are stale."""
    frame = caseload.frame.set_index("household_id")
    before = plain.frame.set_index("household_id").loc[frame.index]
    return frame, before, expected_stale(exposure, frame.index.to_series(), years)


def dates_of(exposure: Exposure, ids: pd.Series) -> list[str]:
    frame = exposure.registry.frame.set_index("household_id")
    return list(pd.to_datetime(frame.loc[ids.to_numpy(), "last_updated"]).dt.strftime("%Y-%m-%d"))


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return dated_exposure()


@pytest.fixture(scope="module")
def plain(exposure: Exposure) -> Caseload:
    return evaluate(load_scenario(scenario()), exposure)


def test_flag_marks_exactly_the_old_records_and_selects_as_without_it(
    exposure: Exposure, plain: Caseload
) -> None:
    flagged = evaluate(load_scenario(scenario(stale_records={"older_than_years": 4})), exposure)
    frame = flagged.frame
    want = expected_stale(exposure, frame["household_id"], 4)
    assert frame["stale_record"].to_numpy().tolist() == want.tolist()
    ids = exposure.registry.household_id
    boundary = dict(zip(ids[1:4], (False, True, False), strict=True))  # 1461 d, 1462 d, no date
    by_id = dict(zip(frame["household_id"], frame["stale_record"], strict=True))
    assert {i: by_id[i] for i in boundary if i in by_id} == {
        i: v for i, v in boundary.items() if i in by_id
    }
    # flagging changes no decision, rank or score
    same = ["household_id", "rank", "selected", "score", "decision"]
    pd.testing.assert_frame_equal(frame[same], plain.frame[same])
    stale = frame[want]
    # the age limit, never the record's own date (no agreement grants last_updated)
    text = "stale record (not updated for more than 4 years)"
    dates = [str(d) for d in dates_of(exposure, stale["household_id"])]
    for reasons, day in zip(stale["reasons"], dates, strict=True):
        parts = reasons.split(";")
        assert parts[-2] == text  # between the rules and the cause
        assert day not in reasons
    assert not frame.loc[~want, "reasons"].str.contains("stale record").any()
    # without the flag the reasons are the same text less the flag
    cleaned = frame["reasons"].str.replace(r";stale record [^;]*", "", regex=True)
    assert cleaned.tolist() == plain.frame["reasons"].tolist()


def test_summary_and_totals_count_stale_records_per_unit(exposure: Exposure) -> None:
    caseload = evaluate(load_scenario(scenario(stale_records={})), exposure)  # 5 years, flag
    frame = caseload.frame
    stale = expected_stale(exposure, frame["household_id"], 5)
    summary = caseload.summary()
    assert list(summary.columns) == [*SUMMARY_COLUMNS, "stale_in_footprint", "stale_selected"]
    frame = frame.assign(in_footprint=frame["exposed"] & stale, chosen=frame["selected"] & stale)
    by = frame.groupby(["province", "district"], observed=True)[["in_footprint", "chosen"]].sum()
    districts = summary[summary["level"] == "district"].set_index(["province", "district"])
    assert districts["stale_in_footprint"].to_dict() == by["in_footprint"].to_dict()
    assert districts["stale_selected"].to_dict() == by["chosen"].to_dict()
    t = caseload.totals
    assert t["stale_in_footprint"] == int(frame["in_footprint"].sum()) > 0
    assert t["stale_selected"] == int(frame["chosen"].sum()) > 0
    report = caseload.manifest["stale_records"]
    assert report["as_of"] == "2023-06-30" and report["older_than_years"] == 5.0
    assert report["in_footprint"] == t["stale_in_footprint"]
    assert caseload.manifest["totals"]["stale_selected"] == t["stale_selected"]


def test_down_weight_multiplies_the_priority_and_says_so(
    exposure: Exposure, plain: Caseload
) -> None:
    option = {"action": "down_weight", "weight": 0.25}
    caseload = evaluate(load_scenario(scenario(stale_records=option)), exposure)
    frame, before, stale = side_by_side(caseload, plain, exposure, 5)
    expected = np.where(stale, before["score"].to_numpy() * 0.25, before["score"].to_numpy())
    np.testing.assert_array_equal(frame["score"].to_numpy(), expected)
    # the ranks follow the lowered score: in each quota unit (district) a stale record is
    # selected only once every fresh eligible record of the unit is
    ranked = frame[frame["eligible"]].sort_values("rank")
    assert ranked["score"].is_monotonic_decreasing
    eligible = frame[frame["eligible"]].assign(stale=stale[frame["eligible"].to_numpy()])
    for _, unit in eligible.groupby("district", observed=True):
        if (unit["stale"] & unit["selected"]).any():
            assert unit.loc[~unit["stale"], "selected"].all()
    assert 0 < caseload.totals["stale_selected"] < int(eligible["stale"].sum())
    texts = frame.loc[stale, "reasons"]
    assert texts.str.contains(
        r";stale record \(not updated for more than 5 years\), priority x0\.25;"
    ).all()


def test_exclude_makes_old_records_ineligible_with_the_reason(
    exposure: Exposure, plain: Caseload
) -> None:
    option = {"action": "exclude", "older_than_years": 4}
    caseload = evaluate(load_scenario(scenario(stale_records=option)), exposure)
    frame, before, stale = side_by_side(caseload, plain, exposure, 4)
    assert frame["eligible"].tolist() == (before["eligible"] & ~stale).tolist()
    assert caseload.totals["stale_selected"] == 0
    # eligible but for the age: the age is the cause
    only_age = frame[before["eligible"].to_numpy() & stale]
    assert len(only_age) > 0
    for reasons in only_age["reasons"]:
        assert reasons.endswith(";record<=4y:fail;stale record (not updated for more than 4 years)")
    assert frame.loc[~stale, "reasons"].str.contains(";record<=4y:pass").all()


def test_a_registry_without_dates_counts_nothing_and_says_so() -> None:
    caseload = evaluate(
        load_scenario(scenario(stale_records={"action": "exclude"})), synthetic_exposure(500, 3)
    )
    assert caseload.totals["stale_in_footprint"] == 0
    assert any("no last_updated column" in w for w in caseload.warnings)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"action": "down_weight"}, "stale_records.weight: required when action is 'down_weight'"),
        ({"weight": 0.5}, "stale_records.weight: only used with action 'down_weight'"),
        ({"action": "drop"}, "stale_records.action: Input should be 'flag', 'down_weight'"),
        ({"older_than_years": 0}, "stale_records.older_than_years: Input should be greater"),
        ({"action": "down_weight", "weight": 2}, "stale_records.weight: Input should be less"),
        ({"years": 5}, "stale_records.years: unknown field (valid here: older_than_years, action"),
    ],
)
def test_bad_options_are_refused_with_the_field(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_scenario(scenario(stale_records=option))
    assert message in str(error.value)


def test_without_the_option_nothing_changes(plain: Caseload) -> None:
    loaded = load_scenario(scenario())
    assert "stale_records" not in loaded.canonical_json()
    assert "reserve_for_unregistered" not in loaded.canonical_json()
    assert "stale_record" not in plain.column_names
    assert list(plain.summary().columns) == list(SUMMARY_COLUMNS)
    assert not {"stale_records", "gap"} & set(plain.manifest)
    assert not any(k.startswith(("stale", "reserved", "unregistered")) for k in plain.totals)


def test_the_gap_table_counts_with_the_same_rule(exposure: Exposure) -> None:
    from rahat.engine.gap.estimate import GapOptions, stale_records
    from rahat.engine.targeting.stale import registry_stale

    frame = exposure.registry.frame
    for years in (4.0, 5.0):
        gap = stale_records(frame, GapOptions(stale_years=years))
        assert gap.tolist() == registry_stale(exposure.registry, years).stale.tolist()
