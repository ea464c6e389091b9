"""A scenario chooses how a NetCDF hazard's time axis is reduced (issue 16, item 3).

``hazards[].time`` (``reduce: max|at|duration|accumulate`` with ``start``, ``end``, ``at``,
``threshold``, ``days``) goes to the reader; the run's manifest records, per hazard layer, the
reduction applied (mode, window, steps, units) and the layer's warnings. Bad options are
refused with words: by the scenario checks, or by the reader when the file cannot serve them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.benchmarks.policy import synthetic_registry
from rahat.engine.pipeline import ExposureCache, run_scenario
from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.outputs import ALWAYS
from rahat.geo.errors import ScenarioError, SchemaError
from rahat.geo.registry.model import Registry

#: Cells of 0.5 degree over the synthetic registry (lon 67-71, lat 24-30); west of 69 E and
#: east of it rain differently over four days from 2022-08-25.
WEST, NORTH, STEP, ROWS, COLS, SPLIT = 66.5, 30.5, 0.5, 14, 10, 5
WEST_RAIN, EAST_RAIN = (10.0, 0.0, 0.0, 0.0), (3.0, 3.0, 3.0, 3.0)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def _write_netcdf(path: Path, *, with_time: bool = True) -> Path:
    import xarray as xr

    values = np.empty((4, ROWS, COLS), np.float32)
    values[:, :, :SPLIT] = np.asarray(WEST_RAIN, np.float32)[:, None, None]
    values[:, :, SPLIT:] = np.asarray(EAST_RAIN, np.float32)[:, None, None]
    coords: dict[str, Any] = {
        "lat": ("lat", NORTH - STEP / 2 - STEP * np.arange(ROWS), {"units": "degrees_north"}),
        "lon": ("lon", WEST + STEP / 2 + STEP * np.arange(COLS), {"units": "degrees_east"}),
    }
    if with_time:
        coords["time"] = pd.date_range("2022-08-25", periods=4, freq="D")
        data = (("time", "lat", "lon"), values, {"units": "mm"})
    else:
        data = (("lat", "lon"), values[0], {"units": "mm"})
    xr.Dataset({"rain": data}, coords=coords).to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def rain_file(tmp_path_factory) -> Path:
    return _write_netcdf(tmp_path_factory.mktemp("hazard") / "rain.nc")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return synthetic_registry(600, seed=3)


@pytest.fixture(scope="module")
def shared_cache() -> ExposureCache:
    """One overlay cache for every run: a run must not reuse another reduction's overlay."""
    return ExposureCache()


def _scenario(time: dict[str, Any] | None, min_intensity: float) -> dict[str, Any]:
    layer: dict[str, Any] = {"name": "rain", "path": "rain.nc", "kind": "generic"}
    if time is not None:
        layer["time"] = time
    return {
        "name": "rain_time",
        "hazards": [layer],
        "eligibility": {"hazard": [{"layer": "rain", "min_intensity": min_intensity}]},
        "benefit": {"kind": "fixed", "amount": 1},
    }


def _run(scenario: dict[str, Any], path: Path, registry: Registry, out: Path, cache=None):
    return run_scenario(
        load_scenario(scenario),
        registry=registry,
        out_dir=out,
        hazard_paths={"rain": path},
        formats=ALWAYS,
        cache=cache,
    )


def _east(registry: Registry) -> set[str]:
    frame = registry.frame
    return set(frame.loc[frame["lon"] >= WEST + SPLIT * STEP, "household_id"].astype(str))


#: Per reduction: the time option, the rule's min_intensity, the side that passes and what
#: the manifest records (besides the window, units and step).
CASES = {
    # max over all days: west 10, east 3
    "default": (None, 5.0, "west", {"mode": "max", "steps": 4, "asked": False}),
    # max over the 26th..28th: west 0, east 3
    "max": (
        {"reduce": "max", "start": "2022-08-26", "end": "2022-08-28"},
        1.0,
        "east",
        {"mode": "max", "steps": 3, "start": "2022-08-26T00:00:00+00:00"},
    ),
    # the 25th: west 10, east 3
    "at": ({"reduce": "at", "at": "2022-08-25"}, 5.0, "west", {"mode": "at", "steps": 1}),
    # days with at least 3 mm: west 1, east 4
    "duration": (
        {"reduce": "duration", "threshold": 3},
        2.0,
        "east",
        {"mode": "duration", "steps": 4, "threshold": 3.0},
    ),
    # the sum of the 4 days: west 10, east 12
    "accumulate": (
        {"reduce": "accumulate", "days": 4},
        11.0,
        "east",
        {"mode": "accumulate", "steps": 4, "days": 4, "end": "2022-08-28T00:00:00+00:00"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_reduction_selects_and_is_in_the_manifest(
    case, rain_file, registry, shared_cache, tmp_path
) -> None:
    time, threshold, side, recorded = CASES[case]
    result = _run(_scenario(time, threshold), rain_file, registry, tmp_path, shared_cache)
    frame = result.caseload.frame
    eligible = set(frame.loc[frame["eligible"], "household_id"].astype(str))
    east = _east(registry)
    expected = east if side == "east" else set(registry.frame["household_id"].astype(str)) - east
    assert 0 < len(expected) < len(registry)
    assert eligible == expected
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["hazards"]["rain"]
    units = "days" if case == "duration" else "mm"  # a duration counts days
    assert entry["time"]["units"] == units and entry["time"]["step"] == "days"
    assert recorded.items() <= entry["time"].items()
    maximum = "no time selection was given; the maximum over all of them is used"
    assert any(maximum in w for w in entry.get("warnings", [])) == (time is None)
    assert any(maximum in w for w in manifest["warnings"]) == (time is None)


def test_manifest_without_time_axis_is_unchanged_and_time_is_warned(registry, tmp_path) -> None:
    flat = _write_netcdf(tmp_path / "flat.nc", with_time=False)
    result = _run(_scenario(None, 5.0), flat, registry, tmp_path / "plain")
    entry = result.caseload.manifest["hazards"]["rain"]
    assert "time" not in entry
    warned = _run(
        _scenario({"reduce": "accumulate", "days": 2}, 5.0), flat, registry, tmp_path / "t"
    )
    entry = warned.caseload.manifest["hazards"]["rain"]
    note = "time (reduce accumulate) ignored; the file has no time axis"
    assert "time" not in entry and note in entry["warnings"]
    assert f"rain: {note}" in warned.warnings


def test_public_manifest_keeps_no_paths_nor_time(rain_file, registry, tmp_path) -> None:
    from rahat.api.service.page_api import public_manifest

    result = _run(
        _scenario({"reduce": "accumulate", "days": 2}, 5.0), rain_file, registry, tmp_path
    )
    public = public_manifest(result.caseload.manifest)
    assert public["hazards"]["rain"] == {
        "kind": "generic",
        "sha256": result.caseload.hazard_sha256["rain"],
    }
    assert "rain.nc" not in json.dumps(public)


def test_scenario_without_time_hashes_as_before() -> None:
    scenario = load_scenario(_scenario(None, 5.0))
    assert '"time"' not in scenario.canonical_json()
    timed = load_scenario(_scenario({"reduce": "accumulate", "days": 3}, 5.0))
    assert '"time":{"days":3,"reduce":"accumulate"}' in timed.canonical_json()


def test_yaml_dates_are_read_as_times(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nhazards:\n  - {name: rain, path: rain.nc, kind: generic,\n"
        "     time: {reduce: max, start: 2022-08-26, end: 2022-08-28T12:00:00Z}}\n"
        "eligibility: {hazard: [{layer: rain, min_intensity: 1}]}\n"
        "benefit: {kind: fixed, amount: 1}\n",
        encoding="utf-8",
    )
    time = load_scenario(path).hazards[0].time
    assert time is not None and (time.start, time.end) == (
        "2022-08-26",
        "2022-08-28T12:00:00+00:00",
    )
    selection = time.selection()
    assert selection.mode == "max" and selection.end is not None and selection.end.hour == 12


@pytest.mark.parametrize(
    ("time", "words"),
    [
        (
            {"reduce": "sum"},
            "hazards[0].time.reduce: Input should be 'max', 'at', 'duration' or 'accumulate'",
        ),
        ({"reduce": "at"}, "hazards[0].time.at: required when reduce is 'at'"),
        ({"reduce": "duration"}, "hazards[0].time.threshold: required when reduce is 'duration'"),
        ({"reduce": "accumulate"}, "hazards[0].time.days: required when reduce is 'accumulate'"),
        (
            {"reduce": "accumulate", "days": 2, "start": "2022-08-25"},
            "hazards[0].time.start: not used by reduce 'accumulate' (it takes days, end)",
        ),
        ({"reduce": "max", "at": "2022-08-25"}, "time.at: not used by reduce 'max'"),
        ({"reduce": "at", "at": "yesterday-ish"}, "cannot read 'yesterday-ish' as a time"),
        (
            {"reduce": "max", "start": "2022-08-28", "end": "2022-08-26"},
            "start 2022-08-28 is after end 2022-08-26",
        ),
        ({"reduce": "accumulate", "days": 0}, "days"),
        ({"reduce": "max", "window": 3}, "unknown field"),
    ],
    ids=[
        "unknown-mode",
        "at-needs-at",
        "duration-needs-threshold",
        "accumulate-needs-days",
        "accumulate-takes-no-start",
        "max-takes-no-at",
        "bad-time",
        "start-after-end",
        "zero-days",
        "unknown-option",
    ],
)
def test_bad_time_options_are_refused_with_words(time, words) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario(time, 1.0))
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("time", "words"),
    [
        ({"reduce": "max", "start": "2023-01-01", "end": "2023-02-01"}, "no time step falls"),
        ({"reduce": "at", "at": "2021-01-01"}, "outside the file's time range"),
        ({"reduce": "accumulate", "days": 10}, "longer than the file, which has 4 daily steps"),
        ({"reduce": "accumulate", "days": 3, "end": "2022-08-26"}, "starts before the file's"),
    ],
    ids=["window-outside", "at-outside", "accumulate-too-long", "accumulate-before-start"],
)
def test_windows_the_file_cannot_serve_fail_the_run(
    time, words, rain_file, registry, tmp_path
) -> None:
    with pytest.raises(SchemaError, match=words):
        _run(_scenario(time, 1.0), rain_file, registry, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_rahat_run_exits_non_zero_on_bad_time(rain_file, tmp_path) -> None:
    from rahat.api.cli import app
    from rahat.geo.registry.synth import write_demo

    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "rain.nc").write_bytes(rain_file.read_bytes())
    registry_file = write_demo(300, 2022, tmp_path / "registry")[1]
    runner = CliRunner()
    for time, words in (
        ({"reduce": "sum"}, "reduce"),
        ({"reduce": "accumulate", "days": 10}, "longer than the file"),
    ):
        path = folder / "bad.json"
        path.write_text(json.dumps(_scenario(time, 1.0)), encoding="utf-8")
        result = runner.invoke(
            app, ["run", str(path), "--registry", str(registry_file), "--out", str(tmp_path / "o")]
        )
        assert result.exit_code != 0
        assert words in " ".join(result.output.split())


def test_stored_overlays_are_keyed_by_the_reduction(rain_file) -> None:
    from rahat.engine.exposure_store import hazard_identity
    from rahat.geo.hazards import read_hazard
    from rahat.geo.hazards.time import TimeSelection

    peak = read_hazard(rain_file, name="rain", time=TimeSelection.max_over())
    summed = read_hazard(rain_file, name="rain", time=TimeSelection.accumulated(4))
    two = read_hazard(rain_file, name="rain", time=TimeSelection.accumulated(2))
    # same file, kind, units; accumulate and a 2-day sum have the same grid dtype too
    assert hazard_identity(peak, None) != hazard_identity(summed, None)
    assert hazard_identity(summed, None) != hazard_identity(two, None)
