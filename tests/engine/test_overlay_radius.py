"""A radius in metres on a lon/lat raster follows the ellipsoid, as pyproj's geodesic does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import rasterio
from rasterio.transform import from_origin

from rahat.engine.overlay import sample_hazard
from rahat.geo.hazards import read_hazard

RADIUS_M = 2000.0
RES = 0.001
LEFT, TOP = 69.95, 36.05  # 36° N: 111,320 m per degree is 0.3% off north-south there
NORTH_CELL = (70.0005, 36.0005)  # cell centres of the two hot cells
EAST_CELL = (70.0405, 35.9605)


def _raster(path: Path) -> Path:
    values = np.zeros((100, 100), dtype=np.float32)
    for lon, lat in (NORTH_CELL, EAST_CELL):
        values[int((TOP - lat) / RES), int((lon - LEFT) / RES)] = 1.0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=100,
        height=100,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(LEFT, TOP, RES, RES),
    ) as dst:
        dst.write(values, 1)
    return path


def _west_of(lon: float, lat: float, distance: float, geod: pyproj.Geod) -> float:
    """Longitude on the parallel ``lat`` at geodesic ``distance`` west of ``lon``."""
    dlon = distance / 90_000.0
    for _ in range(5):
        dlon *= distance / geod.inv(lon - dlon, lat, lon, lat)[2]
    return lon - dlon


def test_radius_matches_the_geodesic_distance_at_36n(tmp_path: Path) -> None:
    geod = pyproj.Geod(ellps="WGS84")
    layer = read_hazard(_raster(tmp_path / "depth.tif"), kind="flood_depth", name="depth")
    # Due south of a hot cell, 0.2% inside the radius: seen (the fixed 111,320 m/degree
    # made the radius 0.3% too short north-south at this latitude and missed it).
    south_lon, south_lat, _ = geod.fwd(*NORTH_CELL, 180.0, 0.998 * RADIUS_M)
    # West of a hot cell on its parallel, 0.05% beyond the radius: not seen (the constant
    # made the radius 0.1% too long east-west here).
    west_lon = _west_of(*EAST_CELL, 1.0005 * RADIUS_M, geod)
    lon = np.array([south_lon, west_lon])
    lat = np.array([south_lat, EAST_CELL[1]])
    assert geod.inv(lon[1], lat[1], *EAST_CELL)[2] > RADIUS_M
    got = sample_hazard(layer, lon, lat, radius_m=RADIUS_M).intensity
    np.testing.assert_array_equal(got, [1.0, 0.0])
    # Just inside the radius east-west, and just beyond it north-south, flip both.
    inside_lon = _west_of(*EAST_CELL, 0.9995 * RADIUS_M, geod)
    beyond = geod.fwd(*NORTH_CELL, 180.0, 1.0005 * RADIUS_M)
    got = sample_hazard(
        layer,
        np.array([beyond[0], inside_lon]),
        np.array([beyond[1], EAST_CELL[1]]),
        radius_m=RADIUS_M,
    ).intensity
    np.testing.assert_array_equal(got, [0.0, 1.0])
