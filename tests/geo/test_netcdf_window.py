"""Windowed NetCDF reads: with a registry extent only the grid's window over it is decoded.

The window (the same rule as a GeoTIFF's) must give the cells, georeferencing and time
reductions of the whole grid, whichever way the coordinates run, and the size limits must
apply to the window, not to the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_hostile_inputs import _measure_here

from rahat.engine.overlay import sample_hazard
from rahat.geo.errors import TooLargeError
from rahat.geo.hazards import HazardLimits, read_hazard
from rahat.geo.hazards.time import TimeSelection

#: A village-sized registry (lon/lat degrees).
EXTENT = (67.0, 25.0, 67.05, 25.05)
#: Peak memory (MB above the baseline) and seconds a windowed read of a huge grid may take.
MAX_EXTRA_MB = 300
MAX_SECONDS = 10.0


def _coord_attrs(name: str) -> dict[str, str]:
    if name == "lat":
        return {"standard_name": "latitude", "units": "degrees_north"}
    return {"standard_name": "longitude", "units": "degrees_east"}


def _huge_sparse(path: Path, n: int, lon0: float, lat0: float, step: float) -> Path:
    """An ``n x n`` zlib float64 grid, zero but for a patch around :data:`EXTENT`.

    Only the patch's chunks are stored, so the file is small whatever ``n``.
    """
    import netCDF4

    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("lat", n)
        nc.createDimension("lon", n)
        for name, start in (("lat", lat0), ("lon", lon0)):
            coord = nc.createVariable(name, "f8", (name,))
            coord.setncatts(_coord_attrs(name))
            coord[:] = start + step / 2 + step * np.arange(n)
        var = nc.createVariable(
            "depth", "f8", ("lat", "lon"), zlib=True, chunksizes=(500, 500), fill_value=0.0
        )
        var.units = "m"
        r0 = int((EXTENT[1] - 0.2 - lat0) / step)
        c0 = int((EXTENT[0] - 0.2 - lon0) / step)
        patch = np.random.default_rng(1).uniform(0.0, 3.0, (1000, 1000))
        var[r0 : r0 + 1000, c0 : c0 + 1000] = patch
    return path


def _grid_file(
    path: Path,
    values: np.ndarray,
    *,
    lon0: float = 66.0,
    lat0: float = 24.0,
    step: float = 0.01,
    lat_ascending: bool = True,
    lon_ascending: bool = True,
    times: pd.DatetimeIndex | None = None,
) -> Path:
    """Write ``values`` (``[time,] lat, lon``, row 0 the southernmost) as a CF NetCDF."""
    import xarray as xr

    ny, nx = values.shape[-2:]
    lat = lat0 + step / 2 + step * np.arange(ny)
    lon = lon0 + step / 2 + step * np.arange(nx)
    if not lat_ascending:
        lat, values = lat[::-1], values[..., ::-1, :]
    if not lon_ascending:
        lon, values = lon[::-1], values[..., :, ::-1]
    dims: tuple[str, ...] = ("lat", "lon")
    coords: dict = {
        "lat": ("lat", lat, _coord_attrs("lat")),
        "lon": ("lon", lon, _coord_attrs("lon")),
    }
    if times is not None:
        dims = ("time", *dims)
        coords["time"] = times
    ds = xr.Dataset({"depth": (dims, values, {"units": "m"})}, coords=coords)
    ds.to_netcdf(path, encoding={"depth": {"zlib": True, "chunksizes": values.shape}})
    return path


def _points(n: int, seed: int, extent: tuple[float, float, float, float] = EXTENT):
    rng = np.random.default_rng(seed)
    west, south, east, north = extent
    return rng.uniform(west, east, n), rng.uniform(south, north, n)


def _offset(window, whole) -> tuple[int, int]:
    """``(row, col)`` of a window grid's first cell in the whole grid (from the transforms)."""
    tw, tf = window.transform, whole.transform
    col = (tw.c - tf.c) / tf.a
    row = (tw.f - tf.f) / tf.e
    assert col == pytest.approx(round(col), abs=1e-6) and row == pytest.approx(round(row), abs=1e-6)
    assert (tw.a, tw.e) == pytest.approx((tf.a, tf.e))
    return round(row), round(col)


def _assert_window_of(window, whole) -> None:
    row, col = _offset(window, whole)
    rows, cols = window.shape
    assert rows < whole.shape[0] and cols < whole.shape[1]
    np.testing.assert_array_equal(
        window.read(), whole.read()[row : row + rows, col : col + cols], strict=True
    )


def test_huge_zlib_netcdf_reads_only_the_registry_window(tmp_path):
    step = 4.0 / 20_000
    path = _huge_sparse(tmp_path / "huge.nc", 20_000, 66.0, 24.0, step)
    assert path.stat().st_size < 20 * 1024**2
    # the whole grid is still refused, before anything is decoded
    with pytest.raises(TooLargeError, match="max_pixels"):
        read_hazard(path)
    result = _measure_here(lambda: read_hazard(path, registry_extent=EXTENT))
    assert result["error"] is None, result
    assert any("only the window over the registry is read" in w for w in result["warnings"])
    assert result["seconds"] < MAX_SECONDS, result
    assert result["extra_mb"] < MAX_EXTRA_MB, result

    layer = read_hazard(path, registry_extent=EXTENT)
    assert layer.grid.shape[0] * layer.grid.shape[1] < 2_000_000
    # the same cells from a small file holding only the stored patch's area
    import xarray as xr

    with xr.open_dataset(path) as ds:
        small = ds.sel(lat=slice(24.85, 25.2), lon=slice(66.85, 67.2))
        small.to_netcdf(tmp_path / "small.nc")
    reference = read_hazard(tmp_path / "small.nc")
    _assert_window_of(layer.grid, reference.grid)
    lon, lat = _points(500, 2)
    np.testing.assert_array_equal(
        sample_hazard(layer, lon, lat).intensity, sample_hazard(reference, lon, lat).intensity
    )
    # the window's cells, not the file's, count against the limits
    with pytest.raises(TooLargeError, match="window over the registry"):
        read_hazard(path, registry_extent=EXTENT, limits=HazardLimits(max_pixels=1_000))
    small_memory = HazardLimits(max_decoded_bytes=20_000_000)
    with pytest.raises(TooLargeError, match=r"window over the registry.*max_decoded_bytes"):
        read_hazard(path, registry_extent=EXTENT, limits=HazardLimits(max_decoded_bytes=100_000))
    read_hazard(path, registry_extent=EXTENT, limits=small_memory)
    with pytest.raises(TooLargeError, match="max_pixels"):
        read_hazard(path, limits=small_memory)


@pytest.mark.parametrize(
    ("lat_ascending", "lon_ascending"), [(True, True), (False, True), (True, False)]
)
def test_window_values_and_georeferencing_equal_the_whole_grid(
    tmp_path, lat_ascending, lon_ascending
):
    values = np.random.default_rng(3).uniform(0.0, 5.0, (300, 400))
    path = _grid_file(
        tmp_path / "d.nc", values, lat_ascending=lat_ascending, lon_ascending=lon_ascending
    )
    whole = read_hazard(path)
    window = read_hazard(path, registry_extent=EXTENT)
    assert any("only the window over the registry is read" in w for w in window.warnings)
    _assert_window_of(window.grid, whole.grid)
    lon, lat = _points(1_000, 4)
    exact = sample_hazard(whole, lon, lat).intensity
    assert np.isfinite(exact).all()
    np.testing.assert_array_equal(sample_hazard(window, lon, lat).intensity, exact)
    near = sample_hazard(window, lon, lat, radius_m=2_000).intensity
    np.testing.assert_array_equal(near, sample_hazard(whole, lon, lat, radius_m=2_000).intensity)


def test_window_of_0_to_360_longitudes(tmp_path):
    values = np.random.default_rng(5).uniform(0.0, 5.0, (180, 360))
    path = _grid_file(tmp_path / "g.nc", values, lon0=0.0, lat0=-90.0, step=1.0)
    whole = read_hazard(path)
    window = read_hazard(path, registry_extent=(67.0, 25.0, 69.0, 27.0))
    _assert_window_of(window.grid, whole.grid)
    lon, lat = _points(200, 6, (67.0, 25.0, 69.0, 27.0))
    np.testing.assert_array_equal(
        sample_hazard(window, lon, lat).intensity, sample_hazard(whole, lon, lat).intensity
    )


def test_projected_netcdf_window(hz, tmp_path):
    depth = np.random.default_rng(7).uniform(0.0, 5.0, (300, 400)).astype(np.float32)
    path = hz.utm_netcdf(tmp_path / "utm.nc", depth, 200_000.0, 2_800_000.0, "depth")
    whole = read_hazard(path)
    extent = (66.5, 24.9, 66.6, 25.0)
    window = read_hazard(path, registry_extent=extent)
    _assert_window_of(window.grid, whole.grid)
    lon, lat = _points(500, 8, extent)
    np.testing.assert_array_equal(
        sample_hazard(window, lon, lat).intensity, sample_hazard(whole, lon, lat).intensity
    )


@pytest.mark.parametrize(
    "selection",
    [
        TimeSelection.max_over("2022-08-26", "2022-08-29"),
        TimeSelection.at_time("2022-08-27T10:00"),
        TimeSelection.duration_above(2.5, "2022-08-25", "2022-08-30"),
    ],
    ids=["max", "at", "duration"],
)
def test_time_reductions_in_the_window_equal_the_whole_grid(tmp_path, selection):
    rng = np.random.default_rng(9)
    values = rng.uniform(0.0, 5.0, (6, 300, 400)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    times = pd.date_range("2022-08-25", periods=6, freq="D")
    path = _grid_file(tmp_path / "t.nc", values, lat_ascending=False, times=times)
    whole = read_hazard(path, time=selection)
    window = read_hazard(path, time=selection, registry_extent=EXTENT)
    assert window.valid_time == whole.valid_time
    row, col = _offset(window.grid, whole.grid)
    rows, cols = window.grid.shape
    assert rows < whole.grid.shape[0] and cols < whole.grid.shape[1]
    np.testing.assert_array_equal(
        window.grid.read(), whole.grid.read()[row : row + rows, col : col + cols], strict=True
    )
