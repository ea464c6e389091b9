"""Every bad input is refused with its own InputError subclass, and nothing is written."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin

from rahat.geo.errors import (
    AttributeFieldError,
    CRSError,
    EmptyDataError,
    GeometryError,
    InputError,
    NoOverlapError,
    TooLargeError,
    UnreadableFileError,
    UnsafeArchiveError,
)
from rahat.geo.hazards import HazardLimits, read_hazard

PAKISTAN = (60.8, 23.6, 77.9, 37.1)


def refused(path: Path, error: type[InputError], nothing_written, **kw) -> InputError:
    """Read ``path`` expecting ``error``; check the message names the file; nothing written."""
    with nothing_written(path.parent), pytest.raises(error) as info:
        read_hazard(path, **kw)
    assert path.name in str(info.value)
    return info.value


def test_missing_crs(hz, tmp_path, nothing_written):
    path = hz.write_raster(
        tmp_path / "nocrs.tif",
        hz.depth_field(40, 40),
        crs=None,
        transform=from_origin(67, 26, 0.01, 0.01),
    )
    err = refused(path, CRSError, nothing_written)
    assert "no CRS" in str(err) and "--crs" in str(err)
    shp = tmp_path / "nocrs"
    shp.mkdir()
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(shp / "a.shp")
    refused(shp / "a.shp", CRSError, nothing_written)


def test_conflicting_or_wrong_crs(hz, raster_factory, tmp_path, nothing_written):
    path = raster_factory(
        "utm.tif", crs="EPSG:32642", transform=from_origin(350_000, 2_950_000, 100, 100)
    )
    refused(path, CRSError, nothing_written, crs="EPSG:4326")
    wrong = hz.write_raster(
        tmp_path / "wrong.tif",
        hz.depth_field(40, 40),
        crs="EPSG:4326",
        transform=from_origin(350_000, 2_950_000, 100, 100),
    )
    assert "outside longitude" in str(refused(wrong, CRSError, nothing_written))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.tif", b"this is not a raster, it is a note to the duty officer\n" * 3),
        ("random.bin", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))),
        ("report.geojson", b"hello"),
        ("empty.tif", b""),
    ],
)
def test_not_a_raster_or_vector(tmp_path, nothing_written, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    refused(path, UnreadableFileError, nothing_written)


def test_truncated_or_corrupt(hz, raster_factory, tmp_path, real_data, nothing_written):
    good = raster_factory("full.tif", hz.depth_field(300, 300))
    data = good.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 2])
    err = refused(cut, UnreadableFileError, nothing_written)
    assert "truncated or corrupt" in str(err)
    gj = tmp_path / "cut.geojson"
    gj.write_bytes(real_data(hz.WARNING).read_bytes()[:50_000])
    refused(gj, UnreadableFileError, nothing_written)
    gpkg = tmp_path / "cut.gpkg"
    gpkg.write_bytes(real_data(hz.TEHSILS).read_bytes()[:4096])
    refused(gpkg, UnreadableFileError, nothing_written)
    nc = tmp_path / "cut.nc"
    nc.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    refused(nc, UnreadableFileError, nothing_written)
    z = tmp_path / "cut.zip"
    z.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    refused(z, UnreadableFileError, nothing_written)


def _tiff_claiming(width: int, height: int) -> bytes:
    """A 150-byte deflate TIFF whose header claims width x height pixels."""
    tags = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 32),
        (259, 3, 1, 8),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, 16),
        (339, 3, 1, 3),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, typ, count, value in tags:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 24) + b"\x78\x9c" + b"\x00" * 14 + ifd


def test_too_many_pixels_refused_before_any_read(tmp_path, raster_factory, nothing_written):
    bomb = tmp_path / "bomb.tif"
    bomb.write_bytes(_tiff_claiming(400_000, 250_000))  # 10^11 pixels in 150 bytes
    assert bomb.stat().st_size < 200
    err = refused(bomb, TooLargeError, nothing_written)
    assert "100,000,000,000" in str(err)
    small = raster_factory("small.tif")
    refused(small, TooLargeError, nothing_written, limits=HazardLimits(max_pixels=1000))


def test_too_many_vertices_and_features(hz, real_data, tmp_path, nothing_written):
    src = real_data(hz.WARNING)
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    err = refused(copy, TooLargeError, nothing_written, limits=HazardLimits(max_vertices=1000))
    assert "vertices" in str(err) and "simplify" in str(err)
    refused(copy, TooLargeError, nothing_written, limits=HazardLimits(max_features=10))


def _shapefile_bytes(tmp_path: Path) -> dict[str, bytes]:
    folder = tmp_path / "shp_src"
    folder.mkdir(exist_ok=True)
    gpd.GeoDataFrame({"v": [1.0]}, geometry=[shapely.box(67, 25, 68, 26)], crs=4326).to_file(
        folder / "flood.shp"
    )
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("case", ["dotdot", "absolute", "nested", "too_big", "two_layers"])
def test_unsafe_archives(tmp_path, nothing_written, case):
    parts = _shapefile_bytes(tmp_path)
    upload = tmp_path / "upload"
    upload.mkdir()
    path = upload / f"{case}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(f"flood/{name}", data)
        if case == "dotdot":
            zf.writestr("../../etc/cron.d/evil.shp", b"x")
        elif case == "absolute":
            zf.writestr("/tmp/evil.prj", b"x")
        elif case == "nested":
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as z2:
                z2.writestr("a.txt", b"a")
            zf.writestr("flood/more.dat", inner.getvalue())
        elif case == "two_layers":
            for name, data in parts.items():
                zf.writestr(f"other/{name}", data)
    if case == "too_big":
        error: type[InputError] = UnsafeArchiveError
        limits = HazardLimits(max_uncompressed_bytes=100)
    elif case == "two_layers":
        from rahat.geo.errors import SchemaError

        error, limits = SchemaError, HazardLimits()
    else:
        error, limits = UnsafeArchiveError, HazardLimits()
    refused(path, error, nothing_written, limits=limits)
    assert sorted(p.name for p in upload.iterdir()) == [path.name]


def test_zip_bomb_ratio(tmp_path, nothing_written):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("flood.geojson", b" " * 5_000_000)
    assert "zip bomb" in str(refused(path, UnsafeArchiveError, nothing_written))


def _write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(geometry: dict | None, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


BOX = {"type": "Polygon", "coordinates": [[[67, 25], [68, 25], [68, 26], [67, 26], [67, 25]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[67, 25], [68, 26], [68, 25], [67, 26], [67, 25]]]}


def test_empty_geometries(tmp_path, nothing_written):
    path = _write_geojson(
        tmp_path / "alerts.geojson",
        [
            _feature(BOX, level=1),
            _feature(None, level=2),
            _feature({"type": "Polygon", "coordinates": []}, level=3),
        ],
    )
    err = refused(path, GeometryError, nothing_written)
    assert "rows 1, 2" in str(err)
    none = _write_geojson(tmp_path / "none.geojson", [])
    refused(none, EmptyDataError, nothing_written)
    points = _write_geojson(
        tmp_path / "points.geojson", [_feature({"type": "Point", "coordinates": [67, 25]})]
    )
    refused(points, GeometryError, nothing_written)


def test_invalid_geometry_repaired_and_reported(tmp_path, nothing_written):
    path = _write_geojson(tmp_path / "bowtie.geojson", [_feature(BOWTIE, level=2.0)])
    with nothing_written(tmp_path):
        layer = read_hazard(path, intensity_field="level")
    assert layer.vector.is_valid.all()
    assert layer.vector.geom_type.iloc[0] in ("MultiPolygon", "Polygon")
    assert layer.vector.area.iloc[0] == pytest.approx(0.5)
    assert any("make_valid" in w and "rows 0" in w for w in layer.warnings)


def test_no_overlap_with_registry(tmp_path, raster_factory, nothing_written):
    far = raster_factory("europe.tif", transform=from_origin(5.0, 50.0, 0.01, 0.01))
    err = refused(far, NoOverlapError, nothing_written, registry_extent=PAKISTAN)
    assert "does not overlap" in str(err)
    # bbox overlaps but the polygon itself does not
    lshape = {
        "type": "Polygon",
        "coordinates": [[[50, 20], [90, 20], [90, 21], [51, 21], [51, 45], [50, 45], [50, 20]]],
    }
    path = _write_geojson(tmp_path / "far.geojson", [_feature(lshape)])
    refused(path, NoOverlapError, nothing_written, registry_extent=PAKISTAN)


def test_all_nodata_raster(hz, tmp_path, nothing_written):
    arr = np.full((64, 64), -9999.0, dtype=np.float32)
    path = hz.write_raster(tmp_path / "blank.tif", arr)
    refused(path, EmptyDataError, nothing_written)
    nan = hz.write_raster(tmp_path / "nan.tif", np.full((8, 8), np.nan, np.float32), nodata=None)
    refused(nan, EmptyDataError, nothing_written)


def test_intensity_attribute_missing_or_not_numeric(hz, real_data, tmp_path, nothing_written):
    src = real_data(hz.WARNING)
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    err = refused(copy, AttributeFieldError, nothing_written, intensity_field="Depth")
    assert "Severity" in str(err)  # lists the numeric attributes to choose from
    err = refused(copy, AttributeFieldError, nothing_written, intensity_field="Alert")
    assert "not numeric" in str(err) and "'Warning'" in str(err)


def test_error_messages_are_input_errors(tmp_path):
    with pytest.raises(InputError):
        read_hazard(tmp_path / "missing.tif")
    with pytest.raises(CRSError):
        read_hazard(tmp_path / "missing.tif", crs="not a crs")


def test_netcdf_claiming_too_many_pixels(tmp_path, nothing_written):
    import netCDF4

    path = tmp_path / "huge.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("lat", 250_000)
        nc.createDimension("lon", 400_000)
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.standard_name, lat.units = "latitude", "degrees_north"
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.standard_name, lon.units = "longitude", "degrees_east"
        lat[:] = np.linspace(-90, 90, 250_000, dtype=np.float32)
        lon[:] = np.linspace(-180, 180, 400_000, dtype=np.float32)
        nc.createVariable("depth", "f4", ("lat", "lon"), zlib=True, chunksizes=(512, 512))
    assert path.stat().st_size < 5_000_000
    refused(path, TooLargeError, nothing_written)
