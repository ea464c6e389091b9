"""``read_hazard`` reads through the registry of readers by format (``READERS``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from rahat.geo.errors import UnreadableFileError
from rahat.geo.hazards import read_hazard
from rahat.geo.hazards.grid import ArrayRasterGrid
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult


@pytest.fixture
def toy_file(tmp_path: Path) -> Iterator[Path]:
    """A file of bytes no built-in reader takes, sniffed as format ``toy``."""
    path = tmp_path / "surge.toy"
    path.write_bytes(b"\x01\x02toy 2x3\x00")
    yield path


def _sniff_as_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rahat.geo.hazards.read.sniff_format", lambda path: "toy")


def test_builtin_formats_are_registered() -> None:
    assert {"tiff", "gdal-raster", "netcdf", "csv", "geojson", "topojson", "gpkg"} <= set(
        READERS.formats()
    )
    assert {"shapefile", "parquet", "gdal-vector"} <= set(READERS.formats())


def test_registered_toy_format_is_read(toy_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ReadRequest] = []

    @READERS.register("toy")
    def read_toy(request: ReadRequest) -> ReadResult:
        seen.append(request)
        request.warnings.append("toy reader used")
        values = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
        grid = ArrayRasterGrid(array=values, transform=Affine(0.1, 0, 67.0, 0, -0.1, 25.0))
        return ReadResult(crs=CRS.from_epsg(4326), grid=grid, names=["storm_surge"], units="m")

    _sniff_as_toy(monkeypatch)
    try:
        layer = read_hazard(toy_file, intensity_field="surge")
    finally:
        READERS.unregister("toy")
    assert [r.fmt for r in seen] == ["toy"]
    assert seen[0].path == toy_file and seen[0].intensity_field == "surge"
    assert layer.source_format == "toy"
    assert layer.units == "m"
    assert layer.warnings == ("toy reader used",)
    assert layer.grid is not None
    np.testing.assert_array_equal(layer.grid.read(), np.arange(6).reshape(2, 3) + 1)
    assert READERS.get("toy") is None


def test_unknown_format_is_refused_as_before(
    toy_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnreadableFileError) as probed:
        read_hazard(toy_file)  # sniffed as unknown, refused after asking GDAL
    _sniff_as_toy(monkeypatch)
    with pytest.raises(UnreadableFileError) as unregistered:
        read_hazard(toy_file)  # a format without a reader
    assert str(unregistered.value) == str(probed.value)
    assert "is neither a raster nor a vector layer Rahat can read" in str(probed.value)
    assert toy_file.name in str(probed.value)
