"""Hostile hazard files: broken rasters, NetCDF bombs, bad vectors and unsafe archives."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from cases import Case, fifo, folder, write
from hazard_files import sparse_geotiff, string_netcdf, unwritten_netcdf
from testkit import zip_bytes

G = "hazard"
BOX = [[67.0, 25.0], [68.0, 25.0], [68.0, 26.0], [67.0, 26.0], [67.0, 25.0]]


def _tiff(tmp: Path, name: str = "depth.tif", array: Any = None, **kw: Any) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    data = np.linspace(0, 3, 64 * 64, dtype="float32").reshape(64, 64) if array is None else array
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": "EPSG:4326",
        "transform": from_origin(67.0, 27.0, 0.01, 0.01),
    }
    profile.update(kw)
    path = tmp / name
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def _truncated_tiff(tmp: Path) -> Path:
    path = _tiff(tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _header_only_tiff(tmp: Path) -> Path:
    """A classic TIFF header whose one IFD claims 100,000 x 100,000 pixels and no strips."""
    entries = [
        (256, 4, 1, 100_000),  # ImageWidth (LONG)
        (257, 4, 1, 100_000),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric
        (273, 4, 1, 0),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 100_000),  # RowsPerStrip
        (279, 4, 1, 10_000_000_000 % 2**32),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return write(tmp, "huge.tif", b"II*\x00" + struct.pack("<I", 8) + ifd)


def _netcdf(tmp: Path, ny: int, nx: int, name: str = "bomb.nc", **var: Any) -> Path:
    return unwritten_netcdf(tmp / name, ny, nx, **var)


def _netcdf_strings(tmp: Path) -> Path:
    return string_netcdf(tmp / "strings.nc")


def _netcdf_no_coords(tmp: Path) -> Path:
    import xarray as xr

    path = tmp / "nocoords.nc"
    xr.Dataset({"depth": (("y", "x"), np.ones((4, 4)))}).to_netcdf(path)
    return path


def _netcdf_time_only(tmp: Path) -> Path:
    import xarray as xr

    path = tmp / "timeonly.nc"
    xr.Dataset({"depth": (("time",), np.arange(5.0))}, coords={"time": np.arange(5)}).to_netcdf(
        path
    )
    return path


def _geojson(tmp: Path, features: list[Any], name: str = "h.geojson", **extra: Any) -> Path:
    doc = {"type": "FeatureCollection", "features": features, **extra}
    return write(tmp, name, json.dumps(doc))


def _polygon(coords: list[Any], props: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props or {"depth": 1.0},
        "geometry": {"type": "Polygon", "coordinates": [coords]},
    }


def _crs_member(name: str) -> dict[str, Any]:
    return {"crs": {"type": "name", "properties": {"name": name}}}


def _zip(tmp: Path, members: dict[str, bytes], name: str = "h.zip") -> Path:
    return write(tmp, name, zip_bytes(members))


def _shapefile_parts(tmp: Path) -> dict[str, bytes]:
    import geopandas as gpd
    from shapely.geometry import Polygon

    folder = tmp / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"depth": [1.0]}, geometry=[Polygon(BOX)], crs="EPSG:4326")
    frame.to_file(folder / "flood.shp")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _shp_zip_without(tmp: Path, suffix: str) -> Path:
    parts = {k: v for k, v in _shapefile_parts(tmp).items() if not k.endswith(suffix)}
    return _zip(tmp, parts)


def _zip_symlink(tmp: Path) -> Path:
    path = tmp / "h.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("flood.geojson")
        info.external_attr = (0o120777 << 16) | 0x20  # a symbolic link
        zf.writestr(info, "/etc/passwd")
    return path


def _zip_encrypted(tmp: Path) -> Path:
    path = _zip(tmp, {"flood.geojson": json.dumps({"type": "FeatureCollection"}).encode()})
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag bit in the local and the central headers
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.find(signature)
        offset = 6 if signature == b"PK\x03\x04" else 8
        data[at + offset] |= 1
    path.write_bytes(bytes(data))
    return path


def _zip_bomb(tmp: Path) -> Path:
    path = tmp / "h.zip"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("flood.geojson", "w", force_zip64=True) as member,
    ):
        chunk = b" " * (1 << 20)
        for _ in range(64):  # 64 MB of spaces, about 64 kB compressed
            member.write(chunk)
    return path


def _nested_zip(tmp: Path) -> Path:
    inner = _zip(tmp, {"flood.geojson": b"{}"}, name="inner.zip").read_bytes()
    return _zip(tmp, {"inner.zip": inner})


def _csv_points(tmp: Path, text: str, name: str = "points.csv") -> Path:
    return write(tmp, name, text)


def _huge_grid_csv(tmp: Path) -> Path:
    return _csv_points(
        tmp, "lon,lat,value\n67.0,25.0,1\n67.0001,25.0001,2\n67.0002,25.0002,3\n74.0,32.0,4\n"
    )


def _topojson_broken(tmp: Path) -> Path:
    doc = {
        "type": "Topology",
        "objects": {
            "a": {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "arcs": [[5]]}]}
        },
        "arcs": [[[67, 25], [68, 25], [68, 26], [67, 25]]],
    }
    return write(tmp, "alerts.topojson", json.dumps(doc))


def _inf_tiff(tmp: Path) -> Path:
    data = np.ones((64, 64), dtype="float32")
    data[10:13, 10:13] = np.inf
    data[20, 20] = -np.inf
    return _tiff(tmp, array=data)


def _all_nan_tiff(tmp: Path) -> Path:
    return _tiff(tmp, array=np.full((32, 32), np.nan, dtype="float32"))


def _sparse_tiff(tmp: Path) -> Path:
    return sparse_geotiff(tmp / "sparse.tif", 70_000)


def _gpkg_empty(tmp: Path) -> Path:
    import geopandas as gpd

    path = tmp / "empty.gpkg"
    gpd.GeoDataFrame({"depth": []}, geometry=[], crs="EPSG:4326").to_file(path)
    return path


FAR = [[1e300, 1e300], [2e300, 1e300], [2e300, 2e300], [1e300, 1e300]]
BOWTIE = [[67.0, 25.0], [68.0, 26.0], [68.0, 25.0], [67.0, 26.0], [67.0, 25.0]]

CASES = [
    Case("truncated-geotiff", G, _truncated_tiff, "UnreadableFileError"),
    Case("header-only-tiff-1e10-pixels", G, _header_only_tiff, "TooLargeError"),
    Case("sparse-70000-squared", G, _sparse_tiff, "TooLargeError", "max_pixels"),
    Case("tiff-no-crs", G, lambda t: _tiff(t, crs=None), "CRSError"),
    Case(
        "tiff-bogus-crs-assumed",
        G,
        lambda t: (_tiff(t, crs=None), {"crs": "EPSG:999999"}),
        "CRSError",
    ),
    Case("tiff-inf-cells", G, _inf_tiff, "ok", "infinite"),
    Case("tiff-all-nan", G, _all_nan_tiff, "EmptyDataError"),
    Case("tiff-magic-only", G, lambda t: write(t, "d.tif", b"II*\x00"), "UnreadableFileError"),
    Case("empty-file", G, lambda t: write(t, "d.tif", b""), "UnreadableFileError"),
    Case("random-bytes", G, lambda t: write(t, "d.bin", os.urandom(4096)), "UnreadableFileError"),
    Case(
        "netcdf-zlib-bomb",
        G,
        lambda t: _netcdf(t, 20_000, 20_000, zlib=True, chunksizes=(1000, 1000)),
        "TooLargeError",
        "max_pixels",
    ),
    Case("netcdf-string-variable", G, _netcdf_strings, "SchemaError", "strings"),
    Case("netcdf-no-coords", G, _netcdf_no_coords, "CRSError"),
    Case("netcdf-time-only", G, _netcdf_time_only, "SchemaError"),
    Case(
        "netcdf-truncated",
        G,
        lambda t: write(t, "t.nc", _netcdf(t, 50, 50).read_bytes()[:300]),
        "UnreadableFileError",
    ),
    Case(
        "geojson-bad-json",
        G,
        lambda t: write(t, "h.geojson", '{"type": "Feat'),
        "UnreadableFileError",
    ),
    Case(
        "geojson-crs-contradiction",
        G,
        lambda t: _geojson(t, [_polygon(BOX)], **_crs_member("urn:ogc:def:crs:EPSG::32642")),
        "CRSError",
        "contradict",
    ),
    Case(
        "geojson-coordinates-1e300",
        G,
        lambda t: _geojson(t, [_polygon(FAR)], **_crs_member("urn:ogc:def:crs:EPSG::32642")),
        "CRSError",
    ),
    Case("geojson-empty-collection", G, lambda t: _geojson(t, []), "EmptyDataError"),
    Case("geojson-bowtie", G, lambda t: _geojson(t, [_polygon(BOWTIE)]), "ok"),
    Case(
        "geojson-two-point-ring",
        G,
        lambda t: _geojson(t, [_polygon([[67.0, 25.0], [67.0, 25.0]])]),
        "UnreadableFileError",
    ),
    Case(
        "geojson-null-geometry",
        G,
        lambda t: _geojson(t, [{"type": "Feature", "properties": {}, "geometry": None}]),
        "GeometryError",
        "missing geometry",
    ),
    Case(
        "geojson-nan-coordinates",
        G,
        lambda t: write(
            t,
            "h.geojson",
            '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
            '"geometry":{"type":"Polygon","coordinates":[[[NaN,25],[68,25],[68,26],[NaN,25]]]}}]}',
        ),
        "UnreadableFileError",
    ),
    Case(
        "geojson-deep-nesting",
        G,
        lambda t: write(t, "h.geojson", "[" * 100_000 + "]" * 100_000),
        "UnreadableFileError",
    ),
    Case(
        "geojson-text-intensity",
        G,
        lambda t: (_geojson(t, [_polygon(BOX, {"depth": "deep"})]), {"intensity_field": "depth"}),
        "AttributeFieldError",
    ),
    Case(
        "geojson-missing-field",
        G,
        lambda t: (_geojson(t, [_polygon(BOX)]), {"intensity_field": "nope"}),
        "AttributeFieldError",
    ),
    Case("topojson-broken", G, _topojson_broken, "GeometryError", "TopoJSON"),
    Case("gpkg-empty-layer", G, _gpkg_empty, "EmptyDataError"),
    Case("shapefile-zip-no-shp", G, lambda t: _shp_zip_without(t, ".shp"), "UnreadableFileError"),
    Case("shapefile-zip-no-prj", G, lambda t: _shp_zip_without(t, ".prj"), "CRSError"),
    Case(
        "zip-slip",
        G,
        lambda t: _zip(t, {"../../evil.geojson": b"{}"}),
        "UnsafeArchiveError",
    ),
    Case(
        "zip-absolute-member",
        G,
        lambda t: _zip(t, {"/etc/evil.geojson": b"{}"}),
        "UnsafeArchiveError",
    ),
    Case("zip-nested", G, _nested_zip, "UnsafeArchiveError"),
    Case("zip-encrypted", G, _zip_encrypted, "UnsafeArchiveError"),
    Case("zip-symlink-member", G, _zip_symlink, "UnsafeArchiveError"),
    Case("zip-bomb", G, _zip_bomb, "UnsafeArchiveError", "zip bomb"),
    Case("zip-empty", G, lambda t: _zip(t, {}), "UnreadableFileError"),
    Case(
        "zip-truncated",
        G,
        lambda t: write(t, "h.zip", b"PK\x03\x04" + b"\0" * 20),
        "UnreadableFileError",
    ),
    Case("fifo", G, fifo("depth.tif"), "UnreadableFileError", "FIFO"),
    Case("directory", G, folder("depth.tif"), "UnreadableFileError"),
    Case("missing-file", G, lambda t: t / "nope.tif", "UnreadableFileError"),
    Case("csv-points-huge-grid", G, _huge_grid_csv, "TooLargeError"),
    Case(
        "csv-semicolons",
        G,
        lambda t: _csv_points(t, "lon;lat;value\n67.0;25.0;1\n67.1;25.0;2\n67.0;25.1;3\n"),
        "UnreadableFileError",
        "semicolons",
    ),
    Case(
        "csv-no-value-column",
        G,
        lambda t: _csv_points(t, "lon,lat\n67.0,25.0\n67.1,25.0\n67.0,25.1\n67.1,25.1\n"),
        "AttributeFieldError",
    ),
    Case(
        "csv-1e300-coordinates",
        G,
        lambda t: (
            _csv_points(t, "x,y,value\n1e300,0,1\n2e300,0,2\n1e300,1e300,3\n2e300,1e300,4\n"),
            {"crs": "EPSG:32642"},
        ),
        "SchemaError",
    ),
    Case(
        "csv-one-point", G, lambda t: _csv_points(t, "lon,lat,value\n67.0,25.0,1\n"), "SchemaError"
    ),
    Case("csv-header-only", G, lambda t: _csv_points(t, "lon,lat,value\n"), "EmptyDataError"),
    Case(
        "kind-unknown",
        G,
        lambda t: (_tiff(t), {"kind": "volcano_ash"}),
        "SchemaError",
        "unknown hazard kind",
    ),
    Case(
        "layer-missing",
        G,
        lambda t: (_gpkg_empty(t), {"layer": "nope"}),
        "SchemaError",
        "has no layer",
    ),
]
