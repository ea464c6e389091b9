"""Reducing a time axis: max, at, duration and accumulate (issue 16, item 3).

The reductions run on in-memory steps (:func:`reduce_time`) and through real NetCDF files
written with xarray (:func:`read_hazard`). ``max`` and ``at`` keep the steps' dtype, so a
float32 0.7 passes a 0.7 threshold as from a GeoTIFF; ``accumulate`` sums in float64.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.geo.errors import SchemaError
from rahat.geo.hazards import read_hazard
from rahat.geo.hazards.time import TimeSelection, applied, reduce_time

DAYS = [datetime(2022, 8, d, tzinfo=UTC) for d in (25, 26, 27, 28)]

#: Four daily steps of two cells: the first has data every day, the second only on the 25th.
RAIN = [
    np.array([[1.0, 5.0]], np.float32),
    np.array([[2.0, np.nan]], np.float32),
    np.array([[np.nan, np.nan]], np.float32),
    np.array([[4.0, np.nan]], np.float32),
]


def _reduce(selection: TimeSelection, steps: list[np.ndarray] = RAIN, times=DAYS):
    return reduce_time(times, steps.__getitem__, selection, source="rain.nc")


def test_accumulate_sums_the_last_days_in_float64() -> None:
    out = _reduce(TimeSelection.accumulated(3))
    assert out.values.dtype == np.float64
    # 26th..28th: 2 + (no data: 0) + 4; the second cell had no data in the window
    assert out.values[0, 0] == 6.0 and np.isnan(out.values[0, 1])
    assert out.valid_time == (DAYS[1], DAYS[3]) and out.steps == 3
    whole = _reduce(TimeSelection.accumulated(4))
    assert whole.values.tolist() == [[7.0, 5.0]]


def test_accumulate_window_ends_at_end() -> None:
    out = _reduce(TimeSelection.accumulated(2, end="2022-08-26T12:00"))
    assert out.valid_time == (DAYS[0], DAYS[1])
    assert out.values.tolist() == [[3.0, 5.0]]


def test_accumulate_widens_float32_before_summing() -> None:
    tenth = [np.full((1, 1), 0.1, np.float32)] * 3
    out = _reduce(TimeSelection.accumulated(3), tenth, DAYS[:3])
    assert out.values[0, 0] == 3 * float(np.float32(0.1))  # exact in float64
    in_float32 = np.float32(np.float32(0.1) + np.float32(0.1)) + np.float32(0.1)
    assert out.values[0, 0] != float(in_float32)  # 0.30000001192..., rounded


@pytest.mark.parametrize(
    ("selection", "times", "words"),
    [
        (TimeSelection.accumulated(5), DAYS, "longer than the file, which has 4 daily steps"),
        (TimeSelection.accumulated(3, end="2022-08-26"), DAYS, "starts before the file's first"),
        (TimeSelection.accumulated(2, end="2022-09-01"), DAYS, "outside the file's time range"),
        (
            TimeSelection.accumulated(2),
            [datetime(2022, 8, 25, h, tzinfo=UTC) for h in (0, 6, 12, 18)],
            "needs one time step a day, but the file's steps are time steps of 6 h",
        ),
    ],
    ids=["longer", "before-start", "end-outside", "not-daily"],
)
def test_accumulate_refuses_windows_the_file_cannot_fill(selection, times, words) -> None:
    with pytest.raises(SchemaError, match=words):
        _reduce(selection, times=times)


def test_accumulate_needs_a_day() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TimeSelection.accumulated(0)


def test_other_modes_and_what_was_applied() -> None:
    peak = _reduce(TimeSelection.max_over("2022-08-26", "2022-08-28"))
    assert peak.values.dtype == np.float32 and peak.values[0, 0] == 4.0
    assert np.isnan(peak.values[0, 1])
    at = _reduce(TimeSelection.at_time("2022-08-25T10:00"))
    assert at.values.tolist() == [[1.0, 5.0]] and at.note.startswith("nearest step")
    counts = _reduce(TimeSelection.duration_above(2.0))
    assert counts.values[0, 0] == 2 and counts.values[0, 1] == 1
    record = applied(DAYS, TimeSelection.accumulated(3), _reduce(TimeSelection.accumulated(3)))
    assert record.as_dict() == {
        "mode": "accumulate",
        "start": "2022-08-26T00:00:00+00:00",
        "end": "2022-08-28T00:00:00+00:00",
        "steps": 3,
        "step": "days",
        "asked": True,
        "days": 3,
    }


def _netcdf(path: Path, values: np.ndarray, name: str = "rain", units: str = "mm") -> Path:
    """A lon/lat NetCDF of daily ``values`` (time, lat, lon) from 2022-08-25."""
    import xarray as xr

    steps, rows, cols = values.shape
    ds = xr.Dataset(
        {name: (("time", "lat", "lon"), values, {"units": units})},
        coords={
            "time": pd.date_range("2022-08-25", periods=steps, freq="D"),
            "lat": ("lat", 30.0 - 0.5 * np.arange(rows), {"units": "degrees_north"}),
            "lon": ("lon", 67.0 + 0.5 * np.arange(cols), {"units": "degrees_east"}),
        },
    )
    ds.to_netcdf(path)
    return path


def test_netcdf_accumulate_records_what_was_applied(tmp_path) -> None:
    values = np.stack([np.full((3, 4), v, np.float32) for v in (1.5, 2.5, 4.0)])
    values[:, 0, 0] = np.nan
    path = _netcdf(tmp_path / "rain.nc", values)
    layer = read_hazard(path, time=TimeSelection.accumulated(2))
    grid = layer.grid.read()
    assert grid.dtype == np.float64 and grid[1, 1] == 6.5 and np.isnan(grid[0, 0])
    assert layer.units == "mm" and not any("time" in w for w in layer.warnings)
    assert layer.valid_time[0].isoformat().startswith("2022-08-26")
    assert layer.time_applied.as_dict()["steps"] == 2
    assert layer.time_applied.as_dict()["mode"] == "accumulate"
    default = read_hazard(path)
    assert default.time_applied.mode == "max" and not default.time_applied.asked
    assert default.time_applied.steps == 3
    assert any("maximum over all of them" in w for w in default.warnings)
    with pytest.raises(SchemaError, match="longer than the file"):
        read_hazard(path, time=TimeSelection.accumulated(4))


def test_float32_point_seven_passes_point_seven_after_max(tmp_path) -> None:
    values = np.zeros((2, 3, 4), np.float32)
    values[0, 1, 1] = 0.7  # the peak, on the first day
    values[1, 1, 1] = 0.2
    path = _netcdf(tmp_path / "depth.nc", values, name="flood_depth", units="m")
    layer = read_hazard(path, kind="flood_depth", time=TimeSelection.max_over())
    grid = layer.grid.read()
    assert grid.dtype == np.float32
    # the rules' comparison: the threshold in the values' dtype
    passed = grid >= grid.dtype.type(0.7)
    assert passed[1, 1] and passed.sum() == 1
    # widened to float64 the cell holds 0.69999998... and no longer passes 0.7
    assert not (grid.astype(np.float64) >= 0.7)[1, 1]
