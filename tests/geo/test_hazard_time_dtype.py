"""A NetCDF time axis is reduced in the layer's own dtype (issue item 8).

A float32 NetCDF whose two time steps hold 0.7 must select the same households for
``min_intensity: 0.7`` as the same grid sent as a float32 GeoTIFF; widened to float64 the value
is 0.69999998... and every household failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.benchmarks.policy import synthetic_registry
from rahat.engine.overlay import overlay
from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.rules import evaluate_rules
from rahat.geo.hazards import read_hazard
from rahat.geo.hazards.time import TimeSelection, reduce_time

#: Grid covering the synthetic registry (lon 67-71, lat 24-30) in 0.1 degree cells.
WEST, NORTH, STEP, ROWS, COLS = 66.5, 30.5, 0.1, 70, 50


def _netcdf(path: Path, dtype: type, steps: int = 2) -> Path:
    import xarray as xr

    lon = WEST + STEP / 2 + STEP * np.arange(COLS)
    lat = NORTH - STEP / 2 - STEP * np.arange(ROWS)
    values = np.full((steps, ROWS, COLS), 0.7, dtype=dtype)
    ds = xr.Dataset(
        {"flood_depth": (("time", "lat", "lon"), values, {"units": "m"})},
        coords={
            "time": pd.date_range("2022-08-25", periods=steps, freq="D"),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )
    ds.to_netcdf(path)
    return path


def _geotiff(raster_factory) -> Path:
    from rasterio.transform import from_origin

    array = np.full((ROWS, COLS), 0.7, dtype=np.float32)
    return raster_factory("depth.tif", array, transform=from_origin(WEST, NORTH, STEP, STEP))


@pytest.mark.parametrize(
    "time",
    [None, TimeSelection.max_over(), TimeSelection.at_time("2022-08-26")],
    ids=["default", "max", "at"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_netcdf_time_reduction_keeps_dtype(tmp_path, time, dtype) -> None:
    layer = read_hazard(_netcdf(tmp_path / "depth.nc", dtype), kind="flood_depth", time=time)
    values = layer.grid.read()
    assert values.dtype == np.dtype(dtype)
    assert np.all(values == dtype(0.7))


def test_reduce_time_keeps_dtype_of_steps() -> None:
    from datetime import UTC, datetime

    times = [datetime(2022, 8, d, tzinfo=UTC) for d in (25, 26)]
    steps = [np.array([[0.7, np.nan]], np.float32), np.array([[0.2, np.nan]], np.float32)]
    peak = reduce_time(times, steps.__getitem__, TimeSelection.max_over(), source="x")
    assert peak.values.dtype == np.float32 and peak.values[0, 0] == np.float32(0.7)
    assert np.isnan(peak.values[0, 1])
    at = reduce_time(times, steps.__getitem__, TimeSelection.at_time(times[1]), source="x")
    assert at.values.dtype == np.float32
    counts = reduce_time(times, steps.__getitem__, TimeSelection.duration_above(0.7), source="x")
    assert counts.values[0, 0] == 1 and np.isnan(counts.values[0, 1])
    ints = [np.array([[3, 1]], np.int16), np.array([[2, 5]], np.int16)]
    imax = reduce_time(times, ints.__getitem__, TimeSelection.max_over(), source="x")
    assert imax.values.dtype == np.int16 and imax.values.tolist() == [[3, 5]]


def test_float32_netcdf_selects_like_the_same_geotiff(tmp_path, raster_factory) -> None:
    registry = synthetic_registry(3000, seed=4)
    scenario = load_scenario(
        {
            "name": "nc",
            "hazards": [{"name": "depth", "path": "x.nc", "kind": "flood_depth"}],
            "eligibility": {"hazard": [{"layer": "depth", "min_intensity": 0.7}]},
            "benefit": {"kind": "fixed", "amount": 1},
        }
    )
    chosen = {}
    for name, path in (
        ("netcdf", _netcdf(tmp_path / "depth.nc", np.float32)),
        ("geotiff", _geotiff(raster_factory)),
    ):
        layer = read_hazard(path, kind="flood_depth", name="depth")
        exposure = overlay(registry, [layer])
        assert exposure.hazards["depth"].intensity.dtype == np.float32
        chosen[name] = evaluate_rules(scenario, exposure).eligible
    assert chosen["geotiff"].sum() == len(registry)
    np.testing.assert_array_equal(chosen["netcdf"], chosen["geotiff"])
