"""Hostile hazard inputs: small files that decode to huge grids, FIFOs, non-finite values.

Every amplification case is read in a forked child that reports its peak memory (above the
baseline with the libraries loaded) and time, so a reader that decodes before it checks fails
the budget instead of taking the test process down.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasterio.transform import from_origin

from rahat.geo.errors import (
    AttributeFieldError,
    CRSError,
    GeometryError,
    SchemaError,
    TooLargeError,
    UnreadableFileError,
)
from rahat.geo.hazards import HazardLimits, inspect_hazard, read_hazard

#: Budget of one hostile read: peak memory above the baseline, and seconds.
MAX_EXTRA_MB = 1024
MAX_SECONDS = 10.0
SINDH = (66.5, 23.6, 71.2, 28.6)


def _hwm_kb() -> int:
    """Peak resident memory of this process (kB), resettable through ``clear_refs``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # pragma: no cover


def _measure_here(read: Callable[[], Any]) -> dict:
    """Run ``read()`` in this process; the same report as :func:`_measure`.

    For reads that decode pixels: a forked child could wait forever on GDAL's decoding thread
    pool, whose threads stay in the parent.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current
    base = _hwm_kb()
    t0 = time.perf_counter()
    out: dict = {"error": None, "message": "", "warnings": []}
    try:
        out["warnings"] = list(getattr(read(), "warnings", ()))
    except Exception as exc:
        out["error"], out["message"] = type(exc).__name__, str(exc)
    out["seconds"] = time.perf_counter() - t0
    out["extra_mb"] = (_hwm_kb() - base) / 1024
    return out


def _measure(read: Callable[[], Any], timeout: float = 30.0) -> dict:
    """Run ``read()`` in a forked child; return what it raised, its time and peak memory.

    The child resets its peak-RSS counter when it starts (``/proc/self/clear_refs``), so
    ``extra_mb`` is the peak above the baseline with every library already loaded. A child
    that dies (killed for memory) or runs past ``timeout`` fails the test.
    """
    import multiprocessing as mp

    # the readers' libraries are imported here, so the child measures the read, not imports
    import pyogrio  # noqa: F401
    import rasterio  # noqa: F401
    import rioxarray  # noqa: F401
    import xarray  # noqa: F401

    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child() -> None:
        with contextlib.suppress(OSError):  # not Linux: ru_maxrss is the baseline
            Path("/proc/self/clear_refs").write_text("5")
        base = _hwm_kb()
        t0 = time.perf_counter()
        out: dict = {"error": None, "message": "", "warnings": []}
        try:
            out["warnings"] = list(getattr(read(), "warnings", ()))
        except BaseException as exc:  # reported to the parent
            out["error"], out["message"] = type(exc).__name__, str(exc)
        out["seconds"] = time.perf_counter() - t0
        out["extra_mb"] = (_hwm_kb() - base) / 1024
        sender.send(out)

    proc = ctx.Process(target=child)
    proc.start()
    try:
        if not receiver.poll(timeout):
            pytest.fail(f"the read took more than {timeout} s (or its process died)")
        result: dict = receiver.recv()
    except EOFError:
        pytest.fail(f"the reading process died (exit code {proc.exitcode}), out of memory?")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
    return result


def _within_budget(result: dict) -> None:
    assert result["seconds"] < MAX_SECONDS, result
    assert result["extra_mb"] < MAX_EXTRA_MB, result


def _refused_as_too_large(path: Path, *needles: str) -> None:
    """Reading ``path`` (in a forked child) is a ``TooLargeError`` naming ``needles``, in budget."""
    result = _measure(lambda: read_hazard(path))
    assert result["error"] == "TooLargeError", result
    for needle in needles:
        assert needle in result["message"], result
    _within_budget(result)


# -- 3. decompression and grid amplification -------------------------------------------------


def test_zlib_netcdf_20000_squared_float64_refused_from_header(hz, tmp_path):
    path = hz.unwritten_netcdf(
        tmp_path / "bomb.nc", 20_000, 20_000, zlib=True, chunksizes=(1000, 1000)
    )
    assert path.stat().st_size < 4_000_000
    _refused_as_too_large(path, "400,000,000", "max_pixels")


def test_netcdf_decoded_bytes_limit_names_limit_and_size(hz, tmp_path):
    # 144 M cells are within max_pixels, but 144 M float64 are 1.07 GiB decoded
    path = hz.unwritten_netcdf(
        tmp_path / "wide.nc", 12_000, 12_000, zlib=True, chunksizes=(1000, 1000)
    )
    _refused_as_too_large(path, "max_decoded_bytes", "1,152,000,000 bytes")


def test_netcdf_chunk_decoded_whole_is_limited(tmp_path):
    import netCDF4

    path = tmp_path / "chunk.nc"
    with netCDF4.Dataset(path, "w") as nc:
        for name, n, std in (("lat", 200, "latitude"), ("lon", 200, "longitude")):
            nc.createDimension(name, n)
            v = nc.createVariable(name, "f8", (name,))
            v.standard_name = std
            v.units = "degrees_north" if name == "lat" else "degrees_east"
            v[:] = np.linspace(25.0, 26.0, n)
        nc.createDimension("time", 50)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.standard_name = "days since 2022-08-01", "time"
        t[:] = np.arange(50)
        nc.createVariable(
            "depth", "f4", ("time", "lat", "lon"), zlib=True, chunksizes=(50, 200, 200)
        )
    # one step is 160 kB, but a chunk (decompressed whole) is 8 MB
    with pytest.raises(TooLargeError, match="compressed chunk"):
        read_hazard(path, limits=HazardLimits(max_decoded_bytes=1_000_000))
    with pytest.raises(TooLargeError, match="time steps"):
        read_hazard(path, limits=HazardLimits(max_pixels=1_000_000))


@pytest.mark.parametrize("span", [20_000, 70_000])
def test_four_point_csv_spanning_a_huge_grid(tmp_path, span):
    path = tmp_path / "points.csv"
    # the spacing of the first three points (1e-4 degrees) over the extent of the fourth
    far = [f"{67.0 + span * 1e-4:.4f}", f"{25.0 + span * 1e-4:.4f}"]
    path.write_text(
        f"lon,lat,value\n67.0,25.0,1\n67.0001,25.0001,2\n67.0002,25.0002,3\n{far[0]},{far[1]},4\n"
    )
    assert path.stat().st_size < 200
    _refused_as_too_large(path, f"{span + 1} x {span + 1}")


def test_sparse_70000_squared_geotiff_refused_quickly(hz, tmp_path):
    path = hz.sparse_geotiff(tmp_path / "sparse.tif", 70_000)
    assert path.stat().st_size < 2_000_000
    _refused_as_too_large(path, "4,900,000,000", "max_pixels")


def test_sparse_geotiff_only_the_registry_window_is_read(hz, tmp_path):
    path = hz.sparse_geotiff(tmp_path / "sparse.tif", 70_000)
    extent = (67.0, 25.0, 67.05, 25.05)
    result = _measure_here(lambda: read_hazard(path, registry_extent=extent))
    assert result["error"] is None, result
    assert any("only the window over the registry" in w for w in result["warnings"]), result
    _within_budget(result)


def test_registry_window_values_and_georeferencing(hz, tmp_path):
    arr = hz.depth_field(400, 500)
    path = hz.write_raster(tmp_path / "d.tif", arr, transform=from_origin(60.0, 30.0, 0.05, 0.05))
    layer = read_hazard(path, registry_extent=(65.0, 20.0, 66.0, 21.0))
    grid = layer.grid
    assert grid.shape[0] < 400 and grid.shape[1] < 500
    row0, col0 = grid.offset
    assert (row0 % 64, col0 % 64) == (0, 0)
    np.testing.assert_array_equal(
        np.nan_to_num(grid.read(), nan=-1),
        np.nan_to_num(arr[row0 : row0 + grid.shape[0], col0 : col0 + grid.shape[1]], nan=-1),
    )
    assert grid.transform.c == pytest.approx(60.0 + col0 * 0.05)
    assert grid.transform.f == pytest.approx(30.0 - row0 * 0.05)
    west, south, east, north = layer.extent_wgs84()
    assert west <= 64.9 and east >= 66.1 and south <= 19.9 and north >= 21.1
    # the window's cells, not the file's, count against the limits
    with pytest.raises(TooLargeError):
        read_hazard(path, limits=HazardLimits(max_pixels=100_000))
    read_hazard(path, registry_extent=(65.0, 20.0, 66.0, 21.0), limits=HazardLimits(100_000))


def test_geotiff_decoded_bytes_limit(hz, tmp_path):
    path = hz.write_raster(tmp_path / "d.tif", hz.depth_field(100, 100))
    with pytest.raises(TooLargeError, match=r"40,000 bytes.*max_decoded_bytes"):
        read_hazard(path, limits=HazardLimits(max_decoded_bytes=10_000))


# -- 6. FIFOs, sockets and devices ----------------------------------------------------------


def test_fifo_is_refused_without_blocking(tmp_path):
    from rahat.geo.registry.io import read_table

    fifo = tmp_path / "depth.tif"
    os.mkfifo(fifo)
    result = _measure(lambda: read_hazard(fifo), timeout=10)
    assert result["error"] == "UnreadableFileError" and "FIFO" in result["message"], result
    result = _measure(lambda: read_table(fifo), timeout=10)
    assert result["error"] == "UnreadableFileError", result
    assert "regular file" in result["message"], result


def test_device_and_socket_are_refused():
    with pytest.raises(UnreadableFileError, match="a device"):
        read_hazard("/dev/null")
    folder = tempfile.mkdtemp(prefix="rahat-sock")
    path = os.path.join(folder, "s.tif")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        with pytest.raises(UnreadableFileError, match=r"socket|regular file"):
            read_hazard(path)
    os.unlink(path)
    os.rmdir(folder)


# -- 7. 500s: string NetCDF variables -------------------------------------------------------


def test_netcdf_string_variable_is_a_schema_error(hz, tmp_path):
    path = hz.string_netcdf(tmp_path / "strings.nc")
    with pytest.raises(SchemaError, match="holds strings"):
        read_hazard(path)


# -- 10. non-finite values, absurd coordinates, misleading errors ---------------------------


def test_infinite_cells_are_no_data_with_a_warning(hz, tmp_path):
    arr = hz.depth_field(64, 64)
    arr[30:33, 30:33] = np.inf
    arr[40, 40] = -np.inf
    path = hz.write_raster(tmp_path / "inf.tif", arr)
    layer = read_hazard(path, kind="flood_depth")
    assert any("10 cells hold an infinite value" in w for w in layer.warnings), layer.warnings
    values = layer.grid.read()
    assert not np.isinf(values).any() and np.isnan(values[30:33, 30:33]).all()
    assert np.isfinite(layer.stats.maximum) and layer.stats.maximum < 10
    assert (layer.classify(arr)[30:33, 30:33] == -1).all()
    for _, strip in layer.grid.strips():
        assert not np.isinf(strip).any()
    info = inspect_hazard(layer)
    json.dumps(info, allow_nan=False)


def test_infinite_values_in_memory_grids(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("lon,lat,value\n67.0,25.0,1\n67.1,25.0,inf\n67.0,25.1,2\n67.1,25.1,3\n")
    layer = read_hazard(path)
    assert any("1 cells hold an infinite value" in w for w in layer.warnings)
    assert not np.isinf(layer.grid.read()).any() and layer.stats.maximum == 3


def test_inspect_json_is_valid_with_infinite_nodata(hz, tmp_path):
    import typer
    from typer.testing import CliRunner

    from rahat.api.cli import hazard

    arr = hz.depth_field(32, 32)
    arr[:4, :4] = -np.inf
    path = hz.write_raster(tmp_path / "ninf.tif", arr, nodata=-np.inf)
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    root.add_typer(hazard.app)
    result = CliRunner().invoke(root, ["hazard", "inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout

    def strict(name: str) -> None:
        raise AssertionError(f"invalid JSON constant {name}")

    info = json.loads(result.stdout, parse_constant=strict)
    assert info["nodata"] is None


def _geojson(path: Path, coords: list, crs: str | None) -> Path:
    doc: dict = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [coords]},
            }
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def test_absurd_coordinates_are_refused(tmp_path):
    big = [[1e300, 1e300], [2e300, 1e300], [2e300, 2e300], [1e300, 1e300]]
    path = _geojson(tmp_path / "big.geojson", big, "urn:ogc:def:crs:EPSG::32642")
    with pytest.raises(CRSError, match="beyond any place on Earth"):
        read_hazard(path)
    csv = tmp_path / "big.csv"
    csv.write_text("x,y,value\n1e300,0,1\n2e300,0,2\n1e300,1e300,3\n2e300,1e300,4\n")
    with pytest.raises(SchemaError, match="beyond any coordinate"):
        read_hazard(csv, crs="EPSG:32642")


def test_geojson_crs_member_contradicting_its_coordinates(tmp_path):
    box = [[67.0, 25.0], [68.0, 25.0], [68.0, 26.0], [67.0, 26.0], [67.0, 25.0]]
    path = _geojson(tmp_path / "utm.geojson", box, "urn:ogc:def:crs:EPSG::32642")
    with pytest.raises(CRSError, match="contradict"):
        read_hazard(path)
    metres = [
        [350_000, 2_750_000],
        [360_000, 2_750_000],
        [360_000, 2_760_000],
        [350_000, 2_750_000],
    ]
    ok = _geojson(tmp_path / "ok.geojson", metres, "urn:ogc:def:crs:EPSG::32642")
    assert read_hazard(ok).crs.to_epsg() == 32642


def test_semicolon_csv_says_so(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("lon;lat;value\n67.0;25.0;1\n67.1;25.0;2\n67.0;25.1;3\n67.1;25.1;4\n")
    with pytest.raises(UnreadableFileError, match="semicolons") as info:
        read_hazard(path)
    assert "CRS" not in str(info.value)


def test_broken_topojson_is_not_a_missing_crs(tmp_path):
    path = tmp_path / "alerts.topojson"
    path.write_text(
        json.dumps(
            {
                "type": "Topology",
                "objects": {
                    "a": {
                        "type": "GeometryCollection",
                        "geometries": [{"type": "Polygon", "arcs": [[5]]}],
                    }
                },
                "arcs": [[[67, 25], [68, 25], [68, 26], [67, 25]]],
            }
        )
    )
    with pytest.raises(GeometryError, match="TopoJSON is broken") as info:
        read_hazard(path)
    assert "no CRS" not in str(info.value)


# -- a CSV with coordinates only ------------------------------------------------------------


def test_csv_without_a_value_column(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("lon,lat\n67.0,25.0\n67.1,25.0\n67.0,25.1\n67.1,25.1\n")
    with pytest.raises(AttributeFieldError, match="no column of values"):
        read_hazard(path)
