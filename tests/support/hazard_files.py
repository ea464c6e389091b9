"""Small hazard files that decode to huge grids or hold the wrong types (shared test inputs).

Used by ``tests/geo`` (through the ``hz`` fixture) and by the hostile-input corpus in
``tests/hostile``; ``tests/support`` is on ``sys.path`` (pytest's ``pythonpath``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def sparse_geotiff(path: Path, size: int, dtype: str = "uint8", **profile: Any) -> Path:
    """A tiled deflate GeoTIFF of ``size`` x ``size`` with no tile written (sparse, tiny)."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype=dtype,
        crs="EPSG:4326",
        transform=from_origin(60.0, 38.0, 15.0 / size, 15.0 / size),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        sparse_ok=True,
        BIGTIFF="YES",
        **profile,
    ):
        pass
    return path


def unwritten_netcdf(path: Path, ny: int, nx: int, dtype: str = "f8", **var: Any) -> Path:
    """A NetCDF whose variable is never written: tiny on disk, ``ny x nx`` when decoded."""
    import netCDF4

    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        lat = nc.createVariable("lat", "f8", ("lat",))
        lat.standard_name, lat.units = "latitude", "degrees_north"
        lon = nc.createVariable("lon", "f8", ("lon",))
        lon.standard_name, lon.units = "longitude", "degrees_east"
        lat[:] = np.linspace(24.0, 28.0, ny)
        lon[:] = np.linspace(66.0, 70.0, nx)
        nc.createVariable("depth", dtype, ("lat", "lon"), **var)
    return path


def string_netcdf(path: Path) -> Path:
    """A 2 x 2 lat/lon NetCDF whose variable ``depth`` holds strings."""
    import xarray as xr

    ds = xr.Dataset(
        {"depth": (("lat", "lon"), np.array([["a", "b"], ["c", "d"]]))},
        coords={
            "lat": ("lat", [25.0, 25.1], {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", [67.0, 67.1], {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )
    ds.to_netcdf(path)
    return path
