"""The coverage gap in the caseload: estimates per district next to the selected, and a reserve.

The synthetic registry has six Sindh districts with P-codes and two Punjab districts without;
the gap tables below match some by P-code, some by (province, district), and leave others
unmatched on purpose. Every expected figure is worked out here from the table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.exposure import Exposure
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.gap_join import GAP_SUMMARY_COLUMNS, GapTable, read_gap
from rahat.geo.errors import InputError, ScenarioError

HEADER = "level,unit,pcode,province," + ",".join(GAP_SUMMARY_COLUMNS)
#: District rows: matched Dadu (P-code), Larkana (names, any case), Rajanpur (names); not
#: matched: Jacobabad (another P-code), Dera Ghazi Khan (wrong province), Quetta (absent).
DISTRICT_ROWS = [
    "province,Sindh,,,500,400,600",
    "district,Dadu, pk703 ,,10.6,5,20",
    "district,Jacobabad,PK799,Sindh,7,1,9",
    "district, LARKANA ,,sindh,20,12,31",
    "district,Rajanpur,,Punjab,30.4,20,41",
    "district,Dera Ghazi Khan,,Sindh,9,3,15",
    "district,Quetta,,Balochistan,44,30,60",
    "tehsil,Dadu,PK70301,Sindh,3,1,5",
]
#: What the district rows put in the footprint: Dadu + Larkana + Rajanpur (all exposed).
FOOTPRINT = 10.6 + 20 + 30.4
AMOUNT = 25_000


def write_gap(folder: Path, rows: list[str], header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gap_by_unit.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(3000, seed=5)


@pytest.fixture(scope="module")
def gap(tmp_path_factory: pytest.TempPathFactory) -> GapTable:
    return read_gap(write_gap(tmp_path_factory.mktemp("gap"), DISTRICT_ROWS).parent)


def scenario(budget: dict[str, Any], **extra: Any) -> Any:
    return load_scenario({**BENCH_SCENARIO, "budget": budget, **extra})


def test_summary_has_the_estimates_of_matched_districts_only(
    exposure: Exposure, gap: GapTable
) -> None:
    caseload = evaluate(scenario({"max_households": 150}), exposure, gap)
    summary = caseload.summary()
    at = list(summary.columns).index("households")
    assert list(summary.columns[at + 1 : at + 4]) == list(GAP_SUMMARY_COLUMNS)
    districts = summary[summary["level"] == "district"].set_index("district")
    got = districts[list(GAP_SUMMARY_COLUMNS)].astype(object).where(districts.notna(), None)
    expected = {
        "Dadu": [11, 5, 20],  # 10.6 to whole households
        "Larkana": [20, 12, 31],
        "Rajanpur": [30, 20, 41],
    }
    for name in districts.index:
        assert got.loc[name].tolist() == expected.get(name, [None, None, None]), name
    assert summary.loc[summary["level"] != "district", list(GAP_SUMMARY_COLUMNS)].isna().all().all()
    # the selection itself is as without the table
    plain = evaluate(scenario({"max_households": 150}), exposure)
    assert caseload.frame["selected"].tolist() == plain.frame["selected"].tolist()
    same = [c for c in summary.columns if c not in GAP_SUMMARY_COLUMNS]
    pd.testing.assert_frame_equal(summary[same], plain.summary())


def test_unmatched_units_are_reported_not_dropped(exposure: Exposure, gap: GapTable) -> None:
    caseload = evaluate(scenario({"max_households": 150}), exposure, gap)
    report = caseload.manifest["gap"]
    assert report["rows"] == "district" and report["districts_matched"] == 3
    assert sorted(report["districts_without_gap"]) == [
        "Punjab/Dera Ghazi Khan",
        "Sindh/Badin",
        "Sindh/Hyderabad",
        "Sindh/Jacobabad",
        "Sindh/Khairpur",
    ]
    assert report["unmatched_gap_units"] == [
        {"unit": "Jacobabad", "pcode": "PK799", "province": "Sindh"},
        {"unit": "Dera Ghazi Khan", "pcode": None, "province": "Sindh"},
        {"unit": "Quetta", "pcode": None, "province": "Balochistan"},
    ]
    assert report["unregistered_b40_footprint_est"] == round(FOOTPRINT)
    assert caseload.totals["unregistered_b40_footprint_est"] == round(FOOTPRINT)
    notes = [w for w in caseload.warnings if w.startswith("gap:")]
    assert len(notes) == 2 and "Quetta" in notes[0] and "Sindh/Badin" in notes[1]
    districts = caseload.summary().query("level == 'district'")
    assert len(districts) == 8  # every district of the caseload kept


def test_without_a_province_column_only_p_codes_match(exposure: Exposure, tmp_path: Path) -> None:
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in DISTRICT_ROWS]
    header = HEADER.replace(",province", "")
    table = read_gap(write_gap(tmp_path, rows, header))
    caseload = evaluate(scenario({"max_households": 150}), exposure, table)
    report = caseload.manifest["gap"]
    assert report["districts_matched"] == 1  # Dadu, by P-code: never by a bare name
    assert {u["unit"] for u in report["unmatched_gap_units"]} == {
        "Jacobabad",
        "LARKANA",
        "Rajanpur",
        "Dera Ghazi Khan",
        "Quetta",
    }
    assert any("has no province column" in w for w in caseload.warnings)


def test_whole_district_rows_count_only_districts_with_exposed_households(
    exposure: Exposure, tmp_path: Path
) -> None:
    from rahat.engine.exposure import HazardExposure

    layer = exposure.hazards["depth"]
    badin = (exposure.registry.frame["district"] == "Badin").to_numpy()
    depth = np.where(badin, np.float32(0.07), layer.intensity)  # dry, yet farmers qualify
    dry = HazardExposure(
        name="depth",
        kind=layer.kind,
        units=layer.units,
        intensity=depth,
        hazard_class=np.where(badin, np.int8(0), layer.hazard_class),
        class_labels=layer.class_labels,
        sha256=layer.sha256,
    )
    moved = Exposure(registry=exposure.registry, hazards={"depth": dry})
    table = read_gap(write_gap(tmp_path, [*DISTRICT_ROWS, "district,Badin,PK701,Sindh,100,9,9"]))
    caseload = evaluate(scenario({"max_households": 150}), moved, table)
    districts = caseload.summary().query("level == 'district'").set_index("district")
    assert districts.loc["Badin", "exposed"] == 0 < districts.loc["Badin", "eligible"]
    assert districts.loc["Badin", "unregistered_b40_est"] == 100  # shown, but not in the footprint
    assert caseload.totals["unregistered_b40_footprint_est"] == round(FOOTPRINT)


def expected_reserve(share: float, estimate: float, transfer: int, total: int) -> int:
    households = math.floor(share * estimate + 0.5)
    return min(households * transfer, total)


@pytest.mark.parametrize("share", [0.5, 1.0, True])
def test_reserve_holds_back_the_transfer_for_the_unregistered(
    exposure: Exposure, gap: GapTable, share: float
) -> None:
    total = 4_000_000
    caseload = evaluate(
        scenario({"total": total, "reserve_for_unregistered": share}), exposure, gap
    )
    held = expected_reserve(float(share), FOOTPRINT, AMOUNT, total)
    assert held == {0.5: 31, 1.0: 61}[float(share)] * AMOUNT  # 30.5 rounds half up to 31
    t = caseload.totals
    assert t["reserved_for_unregistered"] == held
    assert t["reserved_households"] == held // AMOUNT
    assert t["selected"] == (total - held) // AMOUNT
    assert t["unspent"] == total - held - t["amount"]
    # the same selection as a scenario given what is left, with no reserve
    left = evaluate(scenario({"total": total - held}), exposure)
    assert caseload.frame["selected"].tolist() == left.frame["selected"].tolist()
    assert caseload.manifest["gap"]["reserve"]["amount"] == held
    assert any(f"Rs {held:,}" in m for m in caseload.explain())


def test_reserve_is_capped_at_the_budget_and_holds_back_households(
    exposure: Exposure, tmp_path: Path
) -> None:
    huge = read_gap(write_gap(tmp_path / "a", ["district_footprint,Dadu,PK703,,1000000,9,9"]))
    caseload = evaluate(
        scenario({"total": 4_000_000, "reserve_for_unregistered": 1}), exposure, huge
    )
    assert caseload.totals["reserved_for_unregistered"] == 4_000_000
    assert caseload.totals["selected"] == 0 and caseload.totals["unspent"] == 0
    # a household limit gives up the reserved households
    rows = ["district_footprint,Dadu,PK703,,40.5,30,50", "district_footprint,Zhob,,X,2,1,3"]
    foot = read_gap(write_gap(tmp_path / "b", [*rows, "district,Dadu,PK703,,999,9,9999"]))
    capped = evaluate(
        scenario({"max_households": 150, "reserve_for_unregistered": 1}), exposure, foot
    )
    assert capped.manifest["gap"]["rows"] == "district_footprint"
    assert capped.totals["unregistered_b40_footprint_est"] == 42  # every footprint row
    assert capped.totals["reserved_households"] == 43  # round(42.5) half up
    assert capped.totals["selected"] == 150 - 43


def test_reserve_of_a_transfer_by_household_size_uses_the_mean_entitlement(
    exposure: Exposure, gap: GapTable
) -> None:
    benefit = {
        "kind": "household_size",
        "brackets": [{"max_size": 5, "amount": 20_001}, {"amount": 30_000}],
    }
    total = 3_000_000
    caseload = evaluate(
        scenario({"total": total, "reserve_for_unregistered": 1}, benefit=benefit), exposure, gap
    )
    frame = caseload.frame
    mean = frame.loc[frame["eligible"], "benefit"].astype(np.int64).mean()
    transfer = math.floor(mean + 0.5)
    held = expected_reserve(1.0, FOOTPRINT, transfer, total)
    assert caseload.manifest["gap"]["reserve"]["transfer"] == transfer
    assert caseload.totals["reserved_for_unregistered"] == held
    left = evaluate(scenario({"total": total - held}, benefit=benefit), exposure)
    assert frame["selected"].tolist() == left.frame["selected"].tolist()


def test_reserve_needs_a_gap_table_and_a_budget(exposure: Exposure) -> None:
    with pytest.raises(ScenarioError, match="needs the coverage-gap table: give --gap"):
        evaluate(scenario({"total": 10**6, "reserve_for_unregistered": True}), exposure)
    with pytest.raises(ScenarioError, match="reserve_for_unregistered: needs a budget"):
        scenario({"reserve_for_unregistered": 0.5})
    with pytest.raises(ScenarioError, match="reserve_for_unregistered: Input should be less"):
        scenario({"total": 10**6, "reserve_for_unregistered": 1.5})
    # a share of 0 reserves nothing and needs no table
    none = evaluate(scenario({"total": 10**6, "reserve_for_unregistered": 0}), exposure)
    assert "reserved_for_unregistered" not in none.totals


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["district,Dadu,PK703,,1,0,2"], "level,unit,pcode,x,unregistered_b40_est", "no column"),
        (["province,Sindh,,,1,0,2"], HEADER, "no 'district' rows"),
        (["district,Dadu,PK703,,many,0,2"], HEADER, "unregistered_b40_est must be a number"),
        (["district,Dadu,PK703,,1,0,2", "district,Dadu2,pk703,,1,0,2"], HEADER, "listed twice"),
    ],
)
def test_bad_gap_tables_are_refused(
    tmp_path: Path, rows: list[str], header: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        read_gap(write_gap(tmp_path, rows, header))


def test_a_missing_gap_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no gap_by_unit\.csv here"):
        read_gap(tmp_path)
