"""Two versions of one event compare as km² added, removed and kept, by class."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin

from rahat.geo.errors import SchemaError
from rahat.geo.hazards import diff_hazards, read_hazard


def _extent(hz, tmp_path, name, cols_flooded):
    arr = np.zeros((50, 80), dtype=np.uint8)
    arr[:, cols_flooded] = 1
    return hz.write_raster(
        tmp_path / name,
        arr,
        crs="EPSG:4326",
        transform=from_origin(67, 26, 0.01, 0.01),
        nodata=255,
    )


def _cell_km2(n_cols: int) -> float:
    boxes = [shapely.box(67, 25.5, 67 + 0.01 * n_cols, 26)]
    return float(gpd.GeoSeries(boxes, crs=4326).to_crs(6933).area.sum() / 1e6)


def test_raster_day3_vs_day7(hz, tmp_path):
    day3 = read_hazard(_extent(hz, tmp_path, "extent_day3.tif", slice(0, 30)))
    day7 = read_hazard(_extent(hz, tmp_path, "extent_day7.tif", slice(20, 60)))
    assert day3.kind.value == "flood_extent"
    df = diff_hazards(day3, day7)
    assert list(df.columns) == ["class", "added_km2", "removed_km2", "kept_km2"]
    row = df.set_index("class").loc["flooded"]
    assert row.added_km2 == pytest.approx(_cell_km2(30), rel=1e-6)  # cols 30..59
    assert row.removed_km2 == pytest.approx(_cell_km2(20), rel=1e-6)  # cols 0..19
    assert row.kept_km2 == pytest.approx(_cell_km2(10), rel=1e-6)  # cols 20..29
    assert df.set_index("class").loc["any"].kept_km2 == pytest.approx(row.kept_km2)


def test_vector_versions_by_class(tmp_path):
    a = gpd.GeoDataFrame(
        {"depth": [0.3, 2.0]},
        geometry=[shapely.box(67, 25, 68, 26), shapely.box(68, 25, 69, 26)],
        crs=4326,
    )
    b = gpd.GeoDataFrame({"depth": [2.0]}, geometry=[shapely.box(67.5, 25, 69, 26)], crs=4326)
    a.to_file(tmp_path / "a.gpkg")
    b.to_file(tmp_path / "b.gpkg")
    la = read_hazard(tmp_path / "a.gpkg", kind="flood_depth", intensity_field="depth")
    lb = read_hazard(tmp_path / "b.gpkg", kind="flood_depth", intensity_field="depth")
    df = diff_hazards(la, lb).set_index("class")

    def km2(*boxes):
        return float(gpd.GeoSeries(list(boxes), crs=4326).to_crs(6933).area.sum() / 1e6)

    assert df.loc["low"].removed_km2 == pytest.approx(km2(shapely.box(67, 25, 68, 26)))
    assert df.loc["low"].added_km2 == 0
    assert df.loc["high"].added_km2 == pytest.approx(km2(shapely.box(67.5, 25, 68, 26)))
    assert df.loc["high"].kept_km2 == pytest.approx(km2(shapely.box(68, 25, 69, 26)))
    assert df.loc["any"].removed_km2 == pytest.approx(km2(shapely.box(67, 25, 67.5, 26)))


def test_mismatched_inputs_need_resample(hz, tmp_path):
    r = read_hazard(_extent(hz, tmp_path, "extent_r.tif", slice(0, 40)))
    poly = gpd.GeoDataFrame(geometry=[shapely.box(67, 25.5, 67.2, 26)], crs=4326)
    poly.to_file(tmp_path / "flood_extent_v.geojson")
    v = read_hazard(tmp_path / "flood_extent_v.geojson")
    with pytest.raises(SchemaError, match="resample"):
        diff_hazards(r, v)
    df = diff_hazards(r, v, resample=True).set_index("class")
    assert df.loc["flooded"].kept_km2 == pytest.approx(_cell_km2(20), rel=1e-6)
    assert df.loc["flooded"].removed_km2 == pytest.approx(_cell_km2(20), rel=1e-6)
    depth = read_hazard(_extent(hz, tmp_path, "depth.tif", slice(0, 5)), kind="flood_depth")
    with pytest.raises(SchemaError, match="different classes"):
        diff_hazards(r, depth)
