"""Plausibility checks of registry rows: inside Pakistan, known units, located where recorded."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from test_registry_io import read_with_bad_row, valid_rows, write_csv

from rahat.geo import boundaries
from rahat.geo.registry.plausibility import LOCATION_FLAG, UNCHECKED_TEHSIL_FLAG, locate
from rahat.geo.registry.validate import OUTSIDE_COUNTRY, read_registry

LAHORE = (74.4079, 31.4571)


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"lon": 10.0, "lat": 50.0}, [OUTSIDE_COUNTRY]),
        ({"lon": 0.0, "lat": 0.0}, [OUTSIDE_COUNTRY]),
        ({"lat": 60.0}, [OUTSIDE_COUNTRY]),
        ({"lon": 26.7514, "lat": 67.5276}, [OUTSIDE_COUNTRY, "swapped"]),
        ({"district": "Atlantis"}, ["district: unknown 'Atlantis' in Sindh (closest: "]),
        ({"district": "Dadoo"}, ["closest: Dadu"]),
        ({"district": "Lahore"}, ["district: 'Lahore' is in Punjab, not Sindh"]),
        ({"province": "Narnia"}, ["province: unknown 'Narnia' (closest: "]),
        ({"province": "Sindhh"}, ["closest: Sindh"]),
        ({"tehsil": "Jhoi"}, ["tehsil: unknown 'Jhoi' in Dadu (closest: Johi)"]),
        ({"tehsil": "Moro"}, ["tehsil: unknown 'Moro' in Dadu", "is a tehsil of Naushahro"]),
        ({"district_pcode": "PK799"}, ["district_pcode: unknown 'PK799' (closest: "]),
        ({"district_pcode": "PK713"}, ["district_pcode: PK713 is Larkana, not Dadu"]),
        ({"tehsil_pcode": "PK70399"}, ["tehsil_pcode: unknown 'PK70399'"]),
        ({"tehsil_pcode": "PK71704"}, ["tehsil_pcode: PK71704 (Moro) is a tehsil of Naushahro"]),
        ({"tehsil_pcode": "PK70301"}, ["tehsil_pcode: PK70301 is Dadu, not Johi"]),
    ],
)
def test_implausible_rows_are_rejected_with_reason(
    tmp_path: Path, changes: dict[str, object], needles: list[str]
) -> None:
    rejects = read_with_bad_row(tmp_path, **changes).rejects
    assert rejects["row"].tolist() == [2]
    for needle in needles:
        assert needle in rejects["reason"].iloc[0]


def test_right_pcodes_and_border_households_pass(tmp_path: Path) -> None:
    frame = valid_rows()
    frame["district_pcode"] = ["PK703", "PK701"] * 3
    frame["tehsil_pcode"] = ["PK70302", None] * 3
    # Just outside the coast near Karachi (within the 0.1 degree buffer) is accepted.
    frame.loc[1, ["lon", "lat", "district", "district_pcode"]] = [
        66.95,
        24.80,
        "Karachi South",
        "PK721",
    ]
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.n_rejected == 0, report.rejects


def test_household_in_another_district_is_kept_and_flagged(tmp_path: Path) -> None:
    frame = valid_rows()
    frame.loc[0, ["lon", "lat"]] = LAHORE  # recorded as Dadu
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.n_rejected == 0 and report.n_valid == 6
    assert report.flag_counts == {LOCATION_FLAG: 1}
    assert report.flagged["row"].tolist() == [0]
    assert report.flagged["household_id"].tolist() == [str(frame.loc[0, "household_id"])]


def test_tehsils_of_districts_without_a_tehsil_list_are_flagged_not_rejected(
    tmp_path: Path,
) -> None:
    frame = valid_rows()
    # Keamari (2020) has no COD-AB tehsils in Rahat's gazetteer.
    frame.loc[1, ["lon", "lat", "district", "tehsil"]] = [66.98, 24.86, "Keamari", "Baldia"]
    report = read_registry(write_csv(frame, tmp_path / "r.csv"))
    assert report.n_rejected == 0, report.rejects
    assert report.flag_counts.get(UNCHECKED_TEHSIL_FLAG) == 1


def test_locate_answers_as_the_polygons_do() -> None:
    frame = boundaries.districts()
    rng = np.random.default_rng(3)
    lon = rng.uniform(60.0, 78.5, 200_000)
    lat = rng.uniform(23.0, 38.0, 200_000)
    recorded = rng.integers(0, len(frame), len(lon))
    geoms = frame.geometry.to_numpy()
    outside, mismatch = locate(lon, lat, recorded)
    in_recorded = np.zeros(len(lon), dtype=bool)
    for i, geom in enumerate(geoms):
        m = recorded == i
        in_recorded[m] = shapely.contains_xy(geom, lon[m], lat[m])
    in_any = shapely.contains_xy(shapely.union_all(geoms), lon, lat)
    assert not (outside & in_any).any()  # nothing inside the country is called outside
    np.testing.assert_array_equal(mismatch, ~outside & ~in_recorded)


def test_location_check_is_fast_at_a_million_rows() -> None:
    locate(np.array([67.5]), np.array([26.7]), np.array([0]))  # build the grid once
    rng = np.random.default_rng(0)
    n = 1_000_000
    lon = rng.uniform(60.0, 78.0, n)
    lat = rng.uniform(23.0, 38.0, n)
    started = time.perf_counter()
    locate(lon, lat, rng.integers(0, 156, n))
    assert time.perf_counter() - started < 5.0  # about 0.2 s on one core


def test_cli_rejects_lat_60_and_lists_the_misplaced_household(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rahat.api.cli import app

    frame = valid_rows()
    frame.loc[1, "lat"] = 60.0
    frame.loc[0, ["lon", "lat"]] = LAHORE  # recorded as Dadu: kept, flagged
    path = write_csv(frame, tmp_path / "r.csv")
    result = CliRunner().invoke(app, ["registry", "validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["rejected"] == 1 and payload["valid"] == 5
    assert payload["reasons"] == {OUTSIDE_COUNTRY: 1}
    assert payload["flags"] == {LOCATION_FLAG: 1}
    assert pd.read_csv(tmp_path / "r.csv.rejects.csv")["row"].tolist() == [1]
    assert pd.read_csv(payload["flags_file"])["row"].tolist() == [0]


def test_locate_in_chunks_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from rahat.geo.registry import plausibility

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(60.0, 78.0, 10_001), rng.uniform(23.0, 38.0, 10_001)
    recorded = rng.integers(-1, 156, 10_001)
    whole = locate(lon, lat, recorded)
    monkeypatch.setattr(plausibility, "_CHUNK", 1000)
    for a, b in zip(whole, locate(lon, lat, recorded), strict=True):
        np.testing.assert_array_equal(a, b)
