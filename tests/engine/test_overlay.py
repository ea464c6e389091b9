"""Overlay: real files in several CRSs, equal to rasterio + geopandas on the same inputs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from engine_helpers import depth_raster_over
from rasterio.transform import rowcol

from rahat.engine.overlay import district_mismatches, overlay, sample_hazard, spatially_sorted
from rahat.engine.zones import ZoneLayer, admin_zone_layers
from rahat.geo.hazards import read_hazard
from rahat.geo.registry.model import Registry


def _registry(n: int = 5000, seed: int = 3) -> Registry:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "household_id": np.arange(1, n + 1, dtype=np.int64),
            "lon": rng.uniform(66.8, 70.5, n),
            "lat": rng.uniform(24.2, 28.3, n),
            "district": pd.Categorical(["Dadu"] * n),
        }
    )
    return Registry.from_frame(frame)


def _write_raster(path: Path, crs: str, registry: Registry, res: float) -> Path:
    return depth_raster_over(
        path,
        registry,
        crs,
        res,
        margin=3,
        seed=1,
        no_data=(slice(None, 5), slice(None)),
        tiled=True,
        blockxsize=64,
        blockysize=64,
    )


def _reference(path: Path, registry: Registry) -> np.ndarray:
    from pyproj import Transformer

    with rasterio.open(path) as src:
        band = src.read(1)
        x, y = Transformer.from_crs(4326, src.crs, always_xy=True).transform(
            registry.lon, registry.lat
        )
        rows, cols = (np.asarray(a) for a in rowcol(src.transform, x, y))
        nodata = src.nodata
    inside = (rows >= 0) & (rows < band.shape[0]) & (cols >= 0) & (cols < band.shape[1])
    out = np.full(len(registry), np.nan, dtype=np.float32)
    out[inside] = band[rows[inside], cols[inside]]
    out[out == np.float32(nodata)] = np.nan
    return out


@pytest.mark.parametrize(
    ("crs", "res"), [("EPSG:4326", 0.01), ("EPSG:32642", 1000.0), ("EPSG:3857", 1200.0)]
)
def test_raster_sampling_equals_rasterio(tmp_path: Path, crs: str, res: float) -> None:
    registry = _registry()
    path = _write_raster(tmp_path / "depth.tif", crs, registry, res)
    layer = read_hazard(path, kind="flood_depth", name="depth")
    exposure = overlay(registry, [layer])
    got = exposure.hazards["depth"].intensity
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, _reference(path, registry))
    # Streaming in row strips gives the same answer as reading the window at once.
    streamed = sample_hazard(layer, registry.lon, registry.lat, max_raster_bytes=1)
    np.testing.assert_array_equal(streamed.intensity, got)
    assert np.isnan(got).any() and (exposure.hazards["depth"].hazard_class == -1).any()


def test_radius_max_is_at_least_the_cell_value(tmp_path: Path) -> None:
    registry = _registry(500)
    path = _write_raster(tmp_path / "depth.tif", "EPSG:32642", registry, 1000.0)
    layer = read_hazard(path, kind="flood_depth", name="depth")
    cell = sample_hazard(layer, registry.lon, registry.lat).intensity
    near = sample_hazard(layer, registry.lon, registry.lat, radius_m=2500).intensity
    both = ~np.isnan(cell)
    assert np.all(near[both] >= cell[both])
    assert np.any(near[both] > cell[both])


def test_zones_equal_sjoin_on_real_districts() -> None:
    registry = _registry(20_000)
    district = admin_zone_layers(("district",))[0]
    exposure = overlay(registry, [], [district])
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(registry.lon, registry.lat), crs="EPSG:4326"
    )
    polygons = gpd.GeoDataFrame(geometry=district.geometries, crs=district.crs)
    joined = gpd.sjoin(points, polygons, how="left", predicate="intersects")
    expected = joined["index_right"].fillna(-1).astype(np.int64).groupby(level=0).min()
    np.testing.assert_array_equal(exposure.zones["district"].codes, expected.to_numpy())


def test_vector_footprint_highest_value_wins(tmp_path: Path) -> None:
    import shapely

    big = shapely.box(66.0, 24.0, 71.0, 29.0)
    small = shapely.box(67.0, 25.0, 68.0, 26.0)
    frame = gpd.GeoDataFrame({"level": [1.0, 3.0]}, geometry=[big, small], crs="EPSG:4326")
    registry = _registry(2000)
    path = tmp_path / "footprint.geojson"
    frame.to_file(path, driver="GeoJSON")
    layer = read_hazard(path, kind="generic", name="alert", intensity_field="level")
    got = overlay(registry, [layer]).hazards["alert"].intensity
    in_small = shapely.intersects_xy(small, registry.lon, registry.lat)
    in_big = shapely.intersects_xy(big, registry.lon, registry.lat)
    np.testing.assert_array_equal(got[in_small], 3.0)
    np.testing.assert_array_equal(got[in_big & ~in_small], 1.0)
    assert np.isnan(got[~in_big]).all()


def test_spatial_sort_keeps_every_household_once() -> None:
    registry = _registry(3000)
    ordered = spatially_sorted(registry)
    assert sorted(ordered.household_id) == sorted(registry.household_id)
    assert not np.array_equal(ordered.household_id, registry.household_id)


def test_district_mismatch_report() -> None:
    registry = _registry(2000)
    district = admin_zone_layers(("district",))[0]
    exposure = overlay(registry, [], [district])
    report = district_mismatches(exposure)
    located = exposure.zones["district"].labels()
    assert len(report) == int(np.sum(located != "Dadu"))
    assert set(report["recorded_district"]) == {"Dadu"}


def test_user_zone_layer_needs_crs() -> None:
    import shapely

    from rahat.geo.errors import CRSError

    frame = gpd.GeoDataFrame({"zone": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(CRSError):
        ZoneLayer.from_frame(frame, "livelihood", "zone")


def test_empty_registry() -> None:
    registry = _registry(0)
    district = admin_zone_layers(("district",))[0]
    exposure = overlay(registry, [], [district])
    assert len(exposure.zones["district"].codes) == 0
