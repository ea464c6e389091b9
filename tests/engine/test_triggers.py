"""Trigger files and their evaluation: each rule against a plain re-implementation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from rahat.engine.triggers.conditions import evaluate_condition, reduce, runs_of, thresholds
from rahat.engine.triggers.evaluate import evaluate_trigger, firing_scenario, trigger_areas
from rahat.engine.triggers.files import load_trigger
from rahat.engine.triggers.model import Condition
from rahat.engine.triggers.series import Series, read_area_series
from rahat.geo.errors import TriggerError

REPO = Path(__file__).resolve().parents[2]
FLOOD = REPO / "scenarios" / "flood_2022_footprint.yaml"
CODES = ["PK70101", "PK70102", "PK70103"]
DAYS = pd.date_range("2022-08-01", "2022-08-20")


def _series(values: np.ndarray, days: pd.DatetimeIndex = DAYS) -> Series:
    return Series(
        tuple(CODES[: values.shape[0]]),
        days.to_numpy().astype("datetime64[D]"),
        values.astype(np.float64),
        "test",
    )


def _condition(**fields: Any) -> Condition:
    return Condition.model_validate({"source": "rain", "above": {"value": 10.0}, **fields})


def _write_rain(path: Path, rows: list[tuple[Any, ...]], member: bool = False) -> Path:
    columns = ["pcode", "date", "rain_mm"] + (["member"] if member else [])
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def _trigger(tmp_path: Path, **changes: Any) -> Path:
    data: dict[str, Any] = {
        "name": "t",
        "version": 1,
        "areas": {"level": "tehsil", "codes": CODES},
        "sources": {"rain": {"kind": "area_series", "path": "rain.csv", "value": "rain_mm"}},
        "stages": {
            "activation": {
                "when": {"any": [{"source": "rain", "above": {"value": 50}}]},
                "scenario": str(FLOOD),
            }
        },
    }
    data.update(changes)
    path = tmp_path / "trigger.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(data))))  # no shared nodes: no anchors
    return path


# ----------------------------------------------------------------------------- the file


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": 2}, "version 2"),
        ({"extra": 1}, "unknown field"),
        ({"sources": {"rian": {"kind": "area_series", "path": "x.csv"}}}, "'rain' is not one"),
        (
            {"stages": {"activation": {"when": {"any": [{"source": "rain", "above": {}}]}}}},
            "either value or return_period",
        ),
        (
            {
                "stages": {
                    "activation": {
                        "when": {"any": [{"source": "rain", "above": {"return_period": 5}}]}
                    }
                }
            },
            "needs a history",
        ),
        (
            {
                "stages": {
                    "activation": {
                        "when": {
                            "any": [{"source": "rain", "above": {"value": 1}, "lead_days": [5, 2]}]
                        }
                    }
                }
            },
            "lead_days",
        ),
        ({"stages": {"readyness": {"when": {"any": []}}}}, "stages.readyness"),
    ],
)
def test_a_bad_trigger_file_is_refused_in_words(tmp_path: Path, change: dict, words: str) -> None:
    with pytest.raises(TriggerError, match="invalid trigger") as info:
        load_trigger(_trigger(tmp_path, **change))
    assert words in str(info.value)


def test_a_stage_naming_a_scenario_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    stages = {
        "activation": {
            "when": {"any": [{"source": "rain", "above": {"value": 1}}]},
            "scenario": "no_such_scenario.yaml",
        }
    }
    with pytest.raises(TriggerError, match=r"no file no_such_scenario\.yaml"):
        load_trigger(_trigger(tmp_path, stages=stages))


def test_an_oversized_trigger_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: t\n" + "# padding\n" * 200_000)
    with pytest.raises(TriggerError, match="larger than"):
        load_trigger(path)


def test_unknown_area_codes_are_named_with_the_closest(tmp_path: Path) -> None:
    file = load_trigger(_trigger(tmp_path, areas={"level": "tehsil", "codes": ["PK70199"]}))
    with pytest.raises(TriggerError, match="PK70199"):
        trigger_areas(file.trigger)


# ----------------------------------------------------------------------------- the rules


def _accumulate_reference(values: np.ndarray, k: int) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    for index in np.ndindex(values.shape[:-1]):
        row = values[index]
        for t in range(k - 1, len(row)):
            window = row[t - k + 1 : t + 1]
            if not np.isnan(window).any():
                out[(*index, t)] = window.sum()
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 7, 25])
def test_accumulation_equals_the_windowed_sum(k: int) -> None:
    rng = np.random.default_rng(k)
    values = rng.gamma(1.0, 10.0, (3, 2, 20))
    values[0, 0, 5] = np.nan  # a missing day spoils every window holding it
    got = reduce(values, k)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(_accumulate_reference(values, k)))
    np.testing.assert_allclose(got, _accumulate_reference(values, k), rtol=1e-12)


def test_an_accumulation_is_the_sum_of_its_days_exactly() -> None:
    """A 3-day sum equal to a threshold must reach it: no rounding from running totals."""
    rng = np.random.default_rng(0)
    values = np.round(rng.gamma(0.6, 15.0, (1, 1, 122)), 2)
    got = reduce(values, 3)[0, 0]
    days = values[0, 0].tolist()
    want = [days[t - 2] + days[t - 1] + days[t] for t in range(2, len(days))]
    assert got[2:].tolist() == want


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_consecutive_days_end_runs_of_at_least_n(n: int) -> None:
    passing = np.array([[1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1]], dtype=bool)
    want = [t >= n - 1 and all(passing[0, t - n + 1 : t + 1]) for t in range(passing.shape[1])]
    assert runs_of(passing, n)[0].tolist() == want


def test_a_value_at_the_threshold_fires_and_one_below_does_not() -> None:
    values = np.full((2, 1, len(DAYS)), 5.0)
    values[0, 0, 10] = 10.0  # at the threshold
    values[1, 0, 10] = np.nextafter(10.0, 0.0)  # just below it
    result = evaluate_condition(_condition(), _series(values), None, np.datetime64("2022-08-11"))
    assert result.fires.tolist() == [True, False]
    assert result.first_day[0] == np.datetime64("2022-08-11")


def test_the_lead_window_reads_only_its_days() -> None:
    values = np.zeros((1, 1, len(DAYS)))
    values[0, 0, 9] = 99.0  # 2022-08-10
    as_of = np.datetime64("2022-08-05")
    fired = [
        evaluate_condition(_condition(lead_days=lead), _series(values), None, as_of).fires[0]
        for lead in ([0, 4], [5, 5], [6, 9], [3, 7])
    ]
    assert fired == [False, True, False, True]


def test_a_lead_window_partly_outside_the_series_is_said(tmp_path: Path) -> None:
    rows = [(c, d.date().isoformat(), 60.0) for c in CODES for d in DAYS]
    _write_rain(tmp_path / "rain.csv", rows)
    stages = {
        "activation": {
            "when": {"any": [{"source": "rain", "above": {"value": 50}, "lead_days": [0, 5]}]}
        }
    }
    file = load_trigger(_trigger(tmp_path, stages=stages))
    state = evaluate_trigger(file, "2022-08-18")  # the series ends on the 20th
    assert any("covers 3 of the 6 days" in w for w in state.warnings)
    assert not any("covers" in w for w in evaluate_trigger(file, "2022-08-10").warnings)


def test_a_window_outside_the_series_is_an_error() -> None:
    values = np.zeros((1, 1, len(DAYS)))
    with pytest.raises(TriggerError, match="outside its days"):
        evaluate_condition(
            _condition(lead_days=[25, 30]), _series(values), None, np.datetime64("2022-08-01")
        )


def test_probability_is_the_share_of_members_above() -> None:
    values = np.zeros((1, 5, len(DAYS)))
    values[0, :3, 4] = 20.0  # 3 of 5 members above on 2022-08-05
    series, as_of = _series(values), np.datetime64("2022-08-05")
    assert evaluate_condition(_condition(probability=0.6), series, None, as_of).fires[0]
    assert not evaluate_condition(_condition(probability=0.61), series, None, as_of).fires[0]
    single = _series(values[:, :1])
    with pytest.raises(TriggerError, match="no ensemble-member axis"):
        evaluate_condition(_condition(probability=0.5), single, None, as_of)


def test_a_return_period_is_fitted_on_the_past_only() -> None:
    from scipy import stats

    rng = np.random.default_rng(3)
    days = pd.date_range("2022-06-01", periods=60)
    values = rng.gamma(2.0, 8.0, (1, 1, 60))
    condition = Condition.model_validate(
        {
            "source": "rain",
            "above": {"return_period": 5, "history": "rain", "block_days": 7},
        }
    )
    as_of = np.datetime64("2022-07-15")  # day index 44: 6 whole weeks from the first day
    level, fits = thresholds(condition, _series(values, days), as_of, 1)
    past = values[0, 0, 0:42]  # the 6 weeks from the first day (the 7th ends after as-of)
    maxima = past.reshape(6, 7).max(axis=1)
    want = stats.gumbel_r.ppf(0.8, *stats.gumbel_r.fit(maxima))
    assert level[0] == pytest.approx(want, rel=1e-9)
    assert fits[0] is not None and fits[0]["blocks"] == 6
    future = values.copy()
    future[0, 0, 45:] = 1e6  # what happens after the as-of date changes nothing
    assert thresholds(condition, _series(future, days), as_of, 1)[0][0] == level[0]


# ----------------------------------------------------------------------------- the sources


def test_area_series_counts_rejected_rows_and_refuses_repeats(tmp_path: Path) -> None:
    rows = [("PK70101", "2022-08-01", 1.0), ("PK70101", "2022-08-02", "n/a"), ("", "x", 3)]
    series = read_area_series(_write_rain(tmp_path / "r.csv", rows), "rain_mm")
    assert series.warnings[0].startswith("2 of 3 rows rejected (no P-code, no YYYY-MM-DD date")
    odd = [
        ("PK70101", "2022-08-01T02:00:00+05:00", 1.0, 0),  # the day as written, not UTC's
        ("PK70101", "2022-08-02", 2.0, 1.7),  # not a whole member
        ("PK70101", "2022-08-03", 3.0, float("inf")),
    ]
    kept = read_area_series(_write_rain(tmp_path / "o.csv", odd, member=True), "rain_mm")
    assert [str(d) for d in kept.days] == ["2022-08-01"] and kept.values[0, 0, 0] == 1.0
    assert kept.warnings[0].startswith("2 of 3 rows rejected")
    repeated = [("PK70101", "2022-08-01", 1.0), ("PK70101", "2022-08-01", 2.0)]
    with pytest.raises(TriggerError, match="repeat an area, day and member"):
        read_area_series(_write_rain(tmp_path / "d.csv", repeated), "rain_mm")
    with pytest.raises(TriggerError, match="missing column"):
        read_area_series(_write_rain(tmp_path / "m.csv", rows), "rainfall")


def test_area_series_members_and_missing_days(tmp_path: Path) -> None:
    rows = [
        ("PK70101", "2022-08-01", 1.0, 0),
        ("PK70101", "2022-08-03", 3.0, 1),
        ("PK70102", "2022-08-02", 2.0, 0),
    ]
    series = read_area_series(_write_rain(tmp_path / "r.csv", rows, member=True), "rain_mm")
    assert series.areas == ("PK70101", "PK70102") and series.members == 2
    assert [str(d) for d in series.days] == ["2022-08-01", "2022-08-02", "2022-08-03"]
    assert series.values[0, 1, 2] == 3.0 and np.isnan(series.values[0, 0, 1])


def _grid(
    tmp_path: Path, *, crs: bool = True, time: bool = True, members: int = 2, south_up: bool = False
) -> Path:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    lon = np.round(np.arange(68.0, 69.0, 0.05) + 0.025, 6)
    lat = np.round(np.arange(25.5, 24.3, -0.05) - 0.025, 6)
    lat = lat[::-1] if south_up else lat
    days = pd.date_range("2022-08-01", periods=4)
    shape = (members, 4, len(lat), len(lon))
    values = (np.arange(np.prod(shape)) % 97).reshape(shape).astype(np.float32)
    dims = ("member", "time", "lat", "lon")
    coords: dict[str, Any] = {"member": np.arange(members), "lat": lat, "lon": lon}
    if time:
        coords["time"] = days
    else:
        values, dims = values[:, 0], ("member", "lat", "lon")
    ds = xr.Dataset({"rain": (dims, values)}, coords=coords)
    if crs:
        ds = ds.rio.write_crs("EPSG:4326")
    path = tmp_path / "forecast.nc"
    ds.to_netcdf(path)
    return path


@pytest.mark.parametrize("south_up", [False, True])
def test_grid_values_are_the_mean_of_the_cells_whose_centres_are_inside(
    tmp_path: Path, south_up: bool
) -> None:
    import shapely

    from rahat.engine.triggers.series import read_grid
    from rahat.geo.boundaries import sindh_tehsils

    tehsils = sindh_tehsils().set_index("tehsil_pcode")
    path = _grid(tmp_path, south_up=south_up)
    # tehsils of Thatta/Sujawal (around 68-69 E, 24.3-25.5 N)
    inside = tehsils.cx[68.0:69.0, 24.3:25.5]
    codes = [
        c for c in inside.index if inside.loc[c].geometry.within(shapely.box(68, 24.3, 69, 25.5))
    ]
    assert len(codes) >= 2
    series = read_grid(path, "rain", codes, [tehsils.loc[c].geometry for c in codes])
    import xarray as xr

    with xr.open_dataset(path) as ds:
        cube = ds["rain"].values.astype(np.float64)
        lon, lat = np.meshgrid(ds["lon"].values, ds["lat"].values)
    for i, code in enumerate(codes):
        mask = shapely.contains_xy(tehsils.loc[code].geometry, lon, lat)
        want = cube[:, :, mask].mean(axis=2)
        np.testing.assert_allclose(series.values[i], want, rtol=1e-12)


@pytest.mark.parametrize(
    ("crs", "time", "words"), [(False, True, "no CRS"), (True, False, "no time")]
)
def test_a_forecast_without_crs_or_time_is_refused(
    tmp_path: Path, crs: bool, time: bool, words: str
) -> None:
    from rahat.engine.triggers.series import read_grid
    from rahat.geo.boundaries import sindh_tehsils

    tehsil = sindh_tehsils().iloc[0]
    with pytest.raises(TriggerError, match=words):
        read_grid(_grid(tmp_path, crs=crs, time=time), "rain", ["x"], [tehsil.geometry])


# ----------------------------------------------------------------------------- stages and runs


def test_stages_combine_any_and_all_and_name_the_firing_areas(tmp_path: Path) -> None:
    rows = [
        (c, d.date().isoformat(), v) for c, v in zip(CODES, (60, 40, 80), strict=True) for d in DAYS
    ]
    _write_rain(tmp_path / "rain.csv", rows)
    cond = {"source": "rain", "above": {"value": 50}}
    low = {"source": "rain", "above": {"value": 70}}
    stages = {
        "readiness": {"when": {"any": [cond, low]}},
        "activation": {"when": {"all": [cond, low]}, "scenario": str(FLOOD)},
    }
    file = load_trigger(_trigger(tmp_path, stages=stages))
    state = evaluate_trigger(file, "2022-08-10")
    assert state.firing("readiness") == ["PK70101", "PK70103"]
    assert state.firing("activation") == ["PK70103"]
    scenario = firing_scenario(file, state, "activation")
    assert scenario.eligibility.notified.units == ["PK70103"]
    assert scenario.eligibility.notified.level == "tehsil"
    for bad in ("10/08/2022", "2022", "NaT", "2022-13-01"):
        with pytest.raises(TriggerError, match="not a date"):
            evaluate_trigger(file, bad)


def test_a_source_without_a_path_must_be_given(tmp_path: Path) -> None:
    sources = {"rain": {"kind": "grid", "variable": "rain"}}
    file = load_trigger(_trigger(tmp_path, sources=sources))
    with pytest.raises(TriggerError, match="--forecast"):
        evaluate_trigger(file, "2022-08-10")


CAP_FILES = REPO / "tests" / "geo" / "data" / "cap"


def test_cap_alerts_give_the_severity_in_force_over_each_area(tmp_path: Path) -> None:
    folder = tmp_path / "alerts"
    folder.mkdir()
    (folder / "multi.xml").write_bytes((CAP_FILES / "multi.xml").read_bytes())
    text = (CAP_FILES / "multi.xml").read_text(encoding="utf-8")
    test_only = text.replace("<status>Actual</status>", "<status>Exercise</status>")
    test_only = test_only.replace("<severity>Severe</severity>", "<severity>Extreme</severity>")
    (folder / "exercise.xml").write_text(test_only, encoding="utf-8")
    under, away = ["PK72305", "PK71103"], ["PK70101"]  # Sukkur, Khairpur; Badin far south
    sources = {"alerts": {"kind": "cap", "path": str(folder)}}
    stages = {
        "activation": {
            "when": {"any": [{"source": "alerts", "above": {"value": 3}}]},
            "scenario": str(FLOOD),
        }
    }
    areas = {"level": "tehsil", "codes": under + away}
    file = load_trigger(_trigger(tmp_path, sources=sources, stages=stages, areas=areas))
    during = evaluate_trigger(file, "2022-08-29")
    assert during.firing("activation") == under
    row = during.stages["activation"]["conditions"][0]["areas"][0]
    assert row["value"] == 3.0  # Severe: the exercise's Extreme is left out
    assert any("not Actual" in w for w in during.warnings)
    assert evaluate_trigger(file, "2022-08-31").firing("activation") == []  # expired on the 30th
    stages["activation"]["when"]["any"][0]["above"]["value"] = 4
    stricter = load_trigger(_trigger(tmp_path, sources=sources, stages=stages, areas=areas))
    assert evaluate_trigger(stricter, "2022-08-29").firing("activation") == []


def test_a_hostile_cap_source_is_refused(tmp_path: Path) -> None:
    from rahat.geo.errors import InputError

    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&lol2;</alert>'
    )
    (tmp_path / "bomb.xml").write_text(bomb)
    sources = {"alerts": {"kind": "cap", "path": "bomb.xml"}}
    stages = {"activation": {"when": {"any": [{"source": "alerts", "above": {"value": 3}}]}}}
    file = load_trigger(_trigger(tmp_path, sources=sources, stages=stages))
    with pytest.raises(InputError):
        evaluate_trigger(file, "2022-08-29")


def test_areas_from_a_polygon_file_are_named_by_their_code_field(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    boxes = gpd.GeoDataFrame(
        {"area_id": ["A1", "B2"]},
        geometry=[shapely.box(68, 25, 68.5, 25.5), shapely.box(69, 25, 69.5, 25.5)],
        crs="EPSG:4326",
    )
    boxes.to_file(tmp_path / "areas.geojson")
    rows = [(c, d.date().isoformat(), v) for c, v in (("A1", 80), ("B2", 5)) for d in DAYS]
    _write_rain(tmp_path / "rain.csv", rows)
    areas = {"path": "areas.geojson", "code_field": "area_id"}
    file = load_trigger(_trigger(tmp_path, areas=areas))
    assert evaluate_trigger(file, "2022-08-05").firing("activation") == ["A1"]
    wrong = load_trigger(_trigger(tmp_path, areas={**areas, "code_field": "name"}))
    with pytest.raises(TriggerError, match="fields: area_id"):
        evaluate_trigger(wrong, "2022-08-05")


def _cap(identifier: str, msg_type: str, sent: str, *, references: str = "", **info: str) -> str:
    fields = {"severity": "Severe", "onset": "2022-08-01T09:00:00+05:00"} | info
    block = (
        "<info><event>Flood</event><urgency>Immediate</urgency>"
        f"<severity>{fields['severity']}</severity><certainty>Likely</certainty>"
        f"<onset>{fields['onset']}</onset>"
        + (f"<expires>{fields['expires']}</expires>" if "expires" in fields else "")
        + "<area><areaDesc>Sukkur</areaDesc>"
        "<polygon>27.5,68.5 27.5,69.0 28.0,69.1 28.0,68.5 27.5,68.5</polygon></area></info>"
    )
    refs = f"<references>{references}</references>" if references else ""
    return (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        f"<identifier>{identifier}</identifier><sender>pmd</sender><sent>{sent}</sent>"
        f"<status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}"
        + ("" if msg_type == "Cancel" else block)
        + "</alert>"
    )


def test_cancellations_updates_and_acknowledgements_of_cap_alerts(tmp_path: Path) -> None:
    from rahat.engine.triggers.alerts import read_alert_series
    from rahat.geo.boundaries import sindh_tehsils

    sukkur = sindh_tehsils().set_index("tehsil_pcode").loc["PK72305"].geometry
    folder = tmp_path / "alerts"
    folder.mkdir()
    until = {"expires": "2022-08-10T00:00:00+05:00"}  # midnight: the 9th is the last day
    (folder / "a1.xml").write_text(_cap("A1", "Alert", "2022-08-01T08:00:00+05:00", **until))
    (folder / "a2.xml").write_text(
        _cap(
            "A2",
            "Cancel",
            "2022-08-04T08:00:00+05:00",
            references="pmd,A1,2022-08-01T08:00:00+05:00",
        )
    )
    (folder / "b1.xml").write_text(
        _cap("B1", "Alert", "2022-08-01T08:00:00+05:00", severity="Moderate", **until)
    )
    (folder / "b2.xml").write_text(
        _cap(
            "B2",
            "Update",
            "2022-08-06T08:00:00+05:00",
            references="pmd,B1,x",
            severity="Minor",
            onset="2022-08-06T09:00:00+05:00",
            **until,
        )
    )
    (folder / "c.xml").write_text(
        _cap("C", "Ack", "2022-08-01T08:00:00+05:00", severity="Extreme", **until)
    )
    series = read_alert_series(folder, ["PK72305"], [sukkur], np.datetime64("2022-08-02"))
    by_day = dict(zip([str(d) for d in series.days], series.values[0, 0].tolist(), strict=True))
    assert by_day["2022-08-03"] == 3.0  # A1 Severe in force
    assert by_day["2022-08-04"] == 2.0  # A1 cancelled that day; B1 Moderate remains
    assert by_day["2022-08-06"] == 1.0  # B1 replaced by its Minor update
    assert by_day["2022-08-09"] == 1.0 and "2022-08-10" not in by_day  # midnight expiry
    assert any("Ack" in w for w in series.warnings)


def test_a_cap_alert_of_ten_thousand_years_is_bounded(tmp_path: Path) -> None:
    from rahat.engine.triggers.alerts import MAX_SPAN_DAYS, read_alert_series

    text = _cap(
        "Z",
        "Alert",
        "2022-08-01T08:00:00+05:00",
        onset="0001-01-02T00:00:00+00:00",
        expires="9999-12-30T00:00:00+00:00",
    )
    (tmp_path / "z.xml").write_text(text)
    series = read_alert_series(tmp_path / "z.xml", ["x"], [None], np.datetime64("2022-08-02"))
    assert len(series.days) == 2 * MAX_SPAN_DAYS + 1


def test_a_forecast_too_big_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rahat.engine.triggers.series as series_module
    from rahat.geo.boundaries import sindh_tehsils

    monkeypatch.setattr(series_module, "MAX_GRID_VALUES", 1000)
    tehsil = sindh_tehsils().iloc[0]
    with pytest.raises(TriggerError, match="more than 1,000"):
        series_module.read_grid(_grid(tmp_path), "rain", ["x"], [tehsil.geometry])
