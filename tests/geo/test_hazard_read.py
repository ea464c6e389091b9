"""Reading every supported format into one HazardLayer, with areas checked against geopandas."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio.features
import shapely
from rasterio.transform import from_origin
from rasterio.windows import Window

from rahat.geo.hazards import (
    ArrayRasterGrid,
    FileRasterGrid,
    HazardKind,
    TimeSelection,
    inspect_hazard,
    read_hazard,
)


def _reference_class_areas(path: Path, layer) -> dict[int, float]:
    """Per-class km² by polygonising the raster and measuring with geopandas in EPSG:6933."""
    with rasterio.open(path) as src:
        values = src.read(1)
        codes = layer.classify(values).astype(np.int16)
        res = min(abs(src.transform.a), abs(src.transform.e))
        shapes = list(rasterio.features.shapes(codes, transform=src.transform))
    gdf = gpd.GeoDataFrame(
        {"code": [int(v) for _, v in shapes]},
        geometry=[shapely.geometry.shape(s) for s, _ in shapes],
        crs=layer.crs,
    )
    gdf["geometry"] = gdf.segmentize(res)
    areas = gdf.to_crs(6933).area.groupby(gdf["code"]).sum() / 1e6
    return {int(k): float(v) for k, v in areas.items()}


@pytest.mark.parametrize(
    ("crs", "transform"),
    [
        ("EPSG:4326", from_origin(67.0, 27.0, 0.01, 0.01)),
        ("EPSG:32642", from_origin(350_000.0, 2_950_000.0, 250.0, 250.0)),
        ("EPSG:3857", from_origin(7_450_000.0, 3_100_000.0, 300.0, 300.0)),
    ],
)
def test_raster_areas_agree_with_geopandas(raster_factory, crs, transform):
    path = raster_factory("depth.tif", crs=crs, transform=transform)
    layer = read_hazard(path, kind="flood_depth", sender="NDMA")
    assert layer.kind is HazardKind.FLOOD_DEPTH and layer.units == "m"
    assert layer.crs.to_string() == crs
    assert isinstance(layer.grid, FileRasterGrid) and layer.vector is None
    assert layer.provenance.file_name == "depth.tif" and layer.provenance.sender == "NDMA"
    assert len(layer.provenance.sha256) == 64
    info = inspect_hazard(layer)
    json.dumps(info)
    expected = _reference_class_areas(path, layer)
    for cls in info["classes"]:
        ref = expected.get(cls["code"], 0.0)
        assert cls["area_km2"] == pytest.approx(ref, rel=1e-3), cls
    assert info["nodata_km2"] == pytest.approx(expected[-1], rel=1e-3)
    assert info["resolution"] == [abs(transform.a), abs(transform.e)]
    assert info["shape"] == [120, 160]


def test_raster_grid_is_lazy_and_windowed(hz, raster_factory):
    arr = hz.depth_field(120, 160)
    layer = read_hazard(raster_factory("d.tif", arr), kind="flood_depth")
    grid = layer.grid
    assert grid.block_shape == (64, 64)
    windows = list(grid.block_windows())
    assert len(windows) == 2 * 3 and windows[0] == Window(0, 0, 64, 64)
    np.testing.assert_array_equal(grid.read(Window(10, 20, 30, 5)), arr[20:25, 10:40])
    assert grid.read().dtype == np.float32 and grid.nodata == -9999
    codes = layer.classify(grid.read(Window(0, 0, 4, 4)))
    assert (codes == -1).all()


def test_kind_guessed_from_metadata(raster_factory, tmp_path):
    path = raster_factory("agency_upload.tif")
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(long_name="peak ground acceleration (PGA)")
        dst.update_tags(1, units="g")
    layer = read_hazard(path)
    assert layer.kind is HazardKind.EARTHQUAKE_PGA and layer.units == "g"
    assert read_hazard(raster_factory("flood_depth_day3.tif")).kind is HazardKind.FLOOD_DEPTH
    assert read_hazard(raster_factory("something.tif")).kind is HazardKind.GENERIC


def test_real_watershed_alerts_and_tehsils(hz, real_data):
    for rel in (hz.WATCH, hz.WARNING):
        layer = read_hazard(real_data(rel), intensity_field="Severity")
        assert layer.vector is not None and layer.grid is None
        assert layer.crs.to_epsg() == 4326
        assert layer.vector.is_valid.all()
        assert layer.vector["value"].dtype == np.float64
        assert any("make_valid" in w for w in layer.warnings)
        ref = gpd.read_file(real_data(rel)).make_valid().to_crs(6933).union_all().area / 1e6
        info = inspect_hazard(layer)
        assert info["affected_km2"] == pytest.approx(ref, rel=1e-3)
        west, south, east, north = layer.extent_wgs84()
        assert 60 < west < east < 80 and 20 < south < north < 40
    tehsils = read_hazard(real_data(hz.TEHSILS), intensity_field="Flood Area (% of tehsil)")
    assert len(tehsils.vector) == 125 and not tehsils.warnings
    ref = gpd.read_file(real_data(hz.TEHSILS)).to_crs(6933).area.sum() / 1e6
    assert inspect_hazard(tehsils)["area_km2"] == pytest.approx(ref, rel=1e-3)


def _polygons(tmp_path: Path) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"depth": [0.3, 1.0, 2.0], "label": ["a", "b", "c"]},
        geometry=[
            shapely.box(67, 25, 67.5, 25.5),
            shapely.box(67.5, 25, 68, 25.5),
            shapely.box(68, 25, 68.5, 25.5),
        ],
        crs="EPSG:4326",
    )


def test_vector_formats(tmp_path):
    gdf = _polygons(tmp_path)
    expected = gdf.to_crs(6933).area.sum() / 1e6
    gdf.to_file(tmp_path / "f.gpkg", driver="GPKG")
    gdf.to_file(tmp_path / "f.geojson", driver="GeoJSON")
    gdf.to_parquet(tmp_path / "f.parquet")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdf.to_file(shp_dir / "flood.shp")
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, f"flood/{part.name}")
    for name, fmt in [
        ("f.gpkg", "gpkg"),
        ("f.geojson", "geojson"),
        ("f.parquet", "parquet"),
        ("f.zip", "shapefile"),
    ]:
        layer = read_hazard(tmp_path / name, kind="flood_depth", intensity_field="depth")
        assert layer.source_format == fmt
        np.testing.assert_allclose(np.sort(layer.vector["value"]), [0.3, 1.0, 2.0])
        info = inspect_hazard(layer)
        areas = {c["label"]: c["area_km2"] for c in info["classes"]}
        assert areas["dry"] == 0 and areas["low"] > 0 and areas["medium"] > 0 and areas["high"] > 0
        assert info["area_km2"] == pytest.approx(expected, rel=1e-3)


def test_topojson_needs_crs(tmp_path):
    topo = {
        "type": "Topology",
        "objects": {
            "alerts": {
                "type": "GeometryCollection",
                "geometries": [{"type": "Polygon", "arcs": [[0]], "properties": {"level": 2}}],
            }
        },
        "arcs": [[[67.0, 25.0], [68.0, 25.0], [68.0, 26.0], [67.0, 26.0], [67.0, 25.0]]],
    }
    path = tmp_path / "alerts.topojson"
    path.write_text(json.dumps(topo))
    layer = read_hazard(path, crs="EPSG:4326", intensity_field="level")
    assert layer.source_format == "topojson" and layer.vector["value"].tolist() == [2.0]
    ref = gpd.GeoSeries([shapely.box(67, 25, 68, 26)], crs=4326).to_crs(6933).area[0] / 1e6
    assert inspect_hazard(layer)["area_km2"] == pytest.approx(ref, rel=1e-3)


def _netcdf(tmp_path: Path) -> Path:
    import xarray as xr

    times = pd.date_range("2022-08-20", periods=5, freq="D")
    lat = np.arange(25.005, 25.5, 0.01)  # ascending (south-up), as in many CF files
    lon = np.arange(67.005, 67.6, 0.01)
    depth = np.zeros((5, lat.size, lon.size), dtype=np.float32)
    for i in range(5):
        depth[i, :, : 10 * (i + 1)] = 0.2 * (i + 1)  # extent grows eastwards day by day
    depth[:, 0, 0] = np.nan
    ds = xr.Dataset(
        {"flood_depth": (("time", "lat", "lon"), depth, {"units": "m"})},
        coords={
            "time": times,
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )
    path = tmp_path / "depth.nc"
    ds.to_netcdf(path)
    return path


def test_netcdf_time_axis(tmp_path):
    path = _netcdf(tmp_path)
    peak = read_hazard(path)
    assert peak.kind is HazardKind.FLOOD_DEPTH and peak.units == "m"
    assert isinstance(peak.grid, ArrayRasterGrid)
    assert any("maximum over all" in w for w in peak.warnings)
    values = peak.grid.read()
    assert values.shape == (50, 60)
    assert np.isnan(values[-1, 0])  # the south-west NaN ends up in the last row
    assert values[-1, 1] == pytest.approx(1.0) and values[0, 0] == pytest.approx(1.0)
    assert peak.grid.transform.f == pytest.approx(25.5, abs=1e-6)  # north-up
    assert peak.valid_time[0].isoformat().startswith("2022-08-20")

    at = read_hazard(path, time=TimeSelection.at_time("2022-08-22"))
    assert np.nanmax(at.grid.read()) == pytest.approx(0.6)
    assert at.valid_time[0] == at.valid_time[1]
    window = read_hazard(path, time=TimeSelection.max_over("2022-08-20", "2022-08-21"))
    assert np.nanmax(window.grid.read()) == pytest.approx(0.4)

    dur = read_hazard(path, time=TimeSelection.duration_above(0.6))
    assert dur.kind is HazardKind.FLOOD_DURATION and dur.units == "days"
    d = dur.grid.read()
    assert d[-1, 5] == 3  # 0.6, 0.8, 1.0 (0.6 in float32 counts as at least 0.6)
    assert d[-1, 45] == 1
    assert d[-1, 55] == 0
    assert inspect_hazard(dur)["classes"][1]["area_km2"] > 0


def test_csv_point_grid(tmp_path):
    lon, lat = np.meshgrid(67.0 + 0.05 * np.arange(10), 25.0 + 0.05 * np.arange(6))
    pga = 0.05 + 0.2 * (lon - 67.0)
    df = pd.DataFrame({"lon": lon.ravel(), "lat": lat.ravel(), "pga": pga.ravel()}).iloc[1:]
    path = tmp_path / "shakemap_pga.csv"
    df.to_csv(path, index=False)
    layer = read_hazard(path)
    assert layer.kind is HazardKind.EARTHQUAKE_PGA and layer.crs.to_epsg() == 4326
    grid = layer.grid
    assert grid.shape == (6, 10)
    assert tuple(grid.transform)[:6] == pytest.approx((0.05, 0, 66.975, 0, -0.05, 25.275))
    values = grid.read()
    assert np.isnan(values[-1, 0])  # the dropped first point (south-west corner)
    assert values[0, -1] == pytest.approx(0.05 + 0.2 * 0.45)
    info = inspect_hazard(layer)
    assert info["nodata_km2"] > 0 and info["affected_km2"] > 0


def test_scenario_override_of_classes(raster_factory):
    path = raster_factory("depth.tif")
    default = read_hazard(path, kind="flood_depth")
    custom = read_hazard(path, kind="flood_depth", classes={"thresholds": [0.2, 1.0, 2.0]})
    assert custom.classes.labels == default.classes.labels
    assert custom.classes.thresholds == (0.2, 1.0, 2.0)
    a = inspect_hazard(default)["classes"]
    b = inspect_hazard(custom)["classes"]
    assert b[0]["area_km2"] > a[0]["area_km2"]
    again = default.with_classes(custom.classes)
    assert inspect_hazard(again)["classes"] == b


def test_caller_states_crs_for_file_without_one(hz, raster_factory, tmp_path):
    path = hz.write_raster(
        tmp_path / "nocrs.tif",
        hz.depth_field(50, 60),
        crs=None,
        transform=from_origin(67, 26, 0.01, 0.01),
    )
    layer = read_hazard(path, crs="EPSG:4326")
    assert layer.crs.to_epsg() == 4326


def test_registry_overlap_accepted(hz, real_data):
    layer = read_hazard(real_data(hz.TEHSILS), registry_extent=(60.8, 23.6, 77.9, 37.1))
    assert layer.vector is not None


def test_cog_and_zipped_geotiff(hz, tmp_path):
    arr = hz.depth_field(300, 300)
    cog = hz.write_raster(
        tmp_path / "depth_cog.tif", arr, driver="COG", tiled=None, blockxsize=None, blockysize=None
    )
    layer = read_hazard(cog, kind="flood_depth")
    assert layer.source_format == "geotiff"
    np.testing.assert_array_equal(layer.grid.read(Window(5, 7, 20, 10)), arr[7:17, 5:25])
    with zipfile.ZipFile(tmp_path / "depth.zip", "w") as zf:
        zf.write(cog, "event/depth.tif")
    zipped = read_hazard(tmp_path / "depth.zip", kind="flood_depth")
    assert zipped.grid.path.startswith("/vsizip/")
    np.testing.assert_array_equal(zipped.grid.read(Window(5, 7, 20, 10)), arr[7:17, 5:25])
    assert inspect_hazard(zipped)["classes"] == inspect_hazard(layer)["classes"]


def test_uint8_extent_with_nodata(hz, tmp_path):
    arr = np.zeros((20, 30), dtype=np.uint8)
    arr[:, 10:] = 1
    arr[0, :] = 255
    layer = read_hazard(hz.write_raster(tmp_path / "extent.tif", arr, nodata=255))
    assert layer.kind is HazardKind.FLOOD_EXTENT
    codes = layer.classify(layer.grid.read())
    assert (codes[0] == -1).all() and (codes[1:, :10] == 0).all() and (codes[1:, 10:] == 1).all()


def test_projected_netcdf_with_grid_mapping(hz, tmp_path):
    mmi = np.full((30, 40), 7.0, dtype=np.float32)
    path = hz.utm_netcdf(tmp_path / "shake.nc", mmi, 350_000.0, 2_950_000.0, "mmi")
    layer = read_hazard(path)
    assert layer.crs.to_epsg() == 32642 and layer.kind is HazardKind.EARTHQUAKE_MMI
    assert tuple(layer.grid.transform)[:6] == pytest.approx((250, 0, 350_000, 0, -250, 2_950_000))
    ref = gpd.GeoSeries([shapely.box(350_000, 2_942_500, 360_000, 2_950_000)], crs=32642)
    ref_km2 = float(ref.segmentize(250).to_crs(6933).area.iloc[0] / 1e6)
    info = inspect_hazard(layer)
    assert info["classes"][4]["label"] == "very_strong"
    assert info["classes"][4]["area_km2"] == pytest.approx(ref_km2, rel=1e-3)


def test_netcdf_time_outside_range(tmp_path):
    from rahat.geo.errors import SchemaError

    path = _netcdf(tmp_path)
    with pytest.raises(SchemaError, match="outside the file's time range"):
        read_hazard(path, time=TimeSelection.at_time("2023-01-01"))
    with pytest.raises(SchemaError, match="no time step"):
        read_hazard(path, time=TimeSelection.max_over("2021-01-01", "2021-02-01"))


def test_csv_xy_needs_crs(tmp_path):
    from rahat.geo.errors import CRSError

    xx, yy = np.meshgrid(350_000 + 500.0 * np.arange(4), 2_950_000 + 500.0 * np.arange(3))
    df = pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "value": 1.0})
    path = tmp_path / "grid.csv"
    df.to_csv(path, index=False)
    with pytest.raises(CRSError):
        read_hazard(path)
    layer = read_hazard(path, crs="EPSG:32642")
    assert layer.grid.shape == (3, 4) and layer.grid.res == (500.0, 500.0)
