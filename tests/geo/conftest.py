"""Fixtures for the hazard tests: real GeoTIFF / NetCDF / vector files written into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hazard_files import sparse_geotiff, string_netcdf, unwritten_netcdf

from rahat.geo.paths import data_dir

WATCH = "hazard/flood2022_mom_watershed_alerts/20220826_watch.geojson"
WARNING = "hazard/flood2022_mom_watershed_alerts/20220826_warning.geojson"
TEHSILS = "hazard/flood2022_sindh_s1_gee/Sindh_Tehsil_results.gpkg"


@pytest.fixture(scope="session")
def hz() -> SimpleNamespace:
    """Hazard test kit: real-data paths and raster writers (use instead of importing conftest)."""
    return SimpleNamespace(
        WATCH=WATCH,
        WARNING=WARNING,
        TEHSILS=TEHSILS,
        depth_field=depth_field,
        write_raster=write_raster,
        sparse_geotiff=sparse_geotiff,
        unwritten_netcdf=unwritten_netcdf,
        string_netcdf=string_netcdf,
        utm_netcdf=utm_netcdf,
    )


@pytest.fixture(scope="session")
def real_data() -> Callable[[str], Path]:
    def get(rel: str) -> Path:
        path = data_dir() / rel
        if not path.exists():
            pytest.skip(f"real data file {rel} is not available")
        return path

    return get


def depth_field(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A smooth float32 flood-depth field (m) covering every class, with a no-data corner."""
    rng = np.random.default_rng(seed)
    r = np.linspace(0, 3, rows)[:, None]
    c = np.linspace(0, 4, cols)[None, :]
    depth = 1.4 * np.sin(c) * np.cos(r) + 0.8 + 0.05 * rng.standard_normal((rows, cols))
    depth = np.clip(depth, 0, None).astype(np.float32)
    depth[: rows // 8, : cols // 8] = -9999.0
    return depth


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    crs: Any = "EPSG:4326",
    transform: Any = None,
    nodata: Any = -9999.0,
    **profile: Any,
) -> Path:
    """Write a single-band GeoTIFF (tiled, deflate) and return its path."""
    import rasterio
    from rasterio.transform import from_origin

    if transform is None:
        transform = from_origin(67.0, 26.0, 0.01, 0.01)
    options = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
        **profile,
    }
    with rasterio.open(path, "w", **options) as dst:
        dst.write(array, 1)
    return path


def utm_netcdf(
    path: Path, array: np.ndarray, west: float, north: float, name: str, cell: float = 250.0
) -> Path:
    """A north-up EPSG:32642 NetCDF of ``array`` (variable ``name``) from ``(west, north)``."""
    import rioxarray  # noqa: F401
    import xarray as xr

    rows, cols = array.shape
    da = xr.DataArray(
        array,
        dims=("y", "x"),
        coords={
            "x": west + cell * np.arange(cols) + cell / 2,
            "y": north - cell * np.arange(rows) - cell / 2,
        },
        name=name,
    ).rio.write_crs("EPSG:32642")
    da.to_dataset().to_netcdf(path)
    return path


@pytest.fixture
def raster_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, array: np.ndarray | None = None, **kw: Any) -> Path:
        arr = depth_field(120, 160) if array is None else array
        return write_raster(tmp_path / name, arr, **kw)

    return make


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def nothing_written() -> Callable[..., Any]:
    """Context manager asserting that no file under the given folders is created or changed."""

    @contextmanager
    def check(*folders: Path) -> Iterator[None]:
        before = {f: _snapshot(f) for f in folders}
        yield
        for f in folders:
            assert _snapshot(f) == before[f], f"files were written under {f}"

    return check
