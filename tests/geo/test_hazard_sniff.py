"""Hazard and registry sniffers share one head reader and keep their own messages and formats."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rahat.geo.errors import UnreadableFileError
from rahat.geo.hazards.sniff import sniff_format as sniff_hazard
from rahat.geo.registry.io import sniff_format as sniff_registry


def _make(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"layer_{kind}.bin"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "empty":
        path.write_bytes(b"")
    return path  # "missing": never created


@pytest.mark.parametrize(
    ("sniff", "kind", "detail"),
    [
        (sniff_hazard, "missing", "file not found; check the path"),
        (sniff_hazard, "folder", "is a folder, not a file; zip it or name the file"),
        (
            sniff_hazard,
            "fifo",
            "is a named pipe (FIFO), not a regular file; only regular files are read, send the "
            "layer as a file",
        ),
        (sniff_hazard, "empty", "file is empty (0 bytes); ask the sender again"),
        (
            sniff_registry,
            "missing",
            "cannot open the file (No such file or directory); check the path",
        ),
        (
            sniff_registry,
            "folder",
            "is not a regular file (a folder, FIFO, socket or device); give the path of a "
            "registry file",
        ),
        (
            sniff_registry,
            "fifo",
            "is not a regular file (a folder, FIFO, socket or device); give the path of a "
            "registry file",
        ),
        (sniff_registry, "empty", "the file is empty"),
    ],
)
def test_refusals_keep_each_sniffers_message(
    tmp_path: Path, sniff: Callable[[Path], str], kind: str, detail: str
) -> None:
    path = _make(tmp_path, kind)
    with pytest.raises(UnreadableFileError) as info:
        sniff(path)
    assert info.value.detail == detail
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("head", "hazard", "registry"),
    [
        (b"PAR1\x00\x00", "parquet", "parquet"),
        (b"II*\x00\x08\x00\x00\x00", "tiff", None),
        (b"\x89HDF\r\n\x1a\n", "netcdf", None),
        (b"SQLite format 3\x00", "gpkg", None),
        (b"\x00\x00\x27\x0a\x00", "shapefile", None),
        (b"ARROW1\x00\x00", "unknown", "feather"),
        (b"PK\x03\x04\x14\x00", "zip", "zip-compressed"),
        (b"\x1f\x8b\x08\x00", "unknown", "gzip-compressed"),
        (b"lon,lat,value\n67,25,1\n", "csv", "csv"),
    ],
)
def test_magic_bytes(tmp_path: Path, head: bytes, hazard: str, registry: str | None) -> None:
    path = tmp_path / "f.dat"
    path.write_bytes(head)
    assert sniff_hazard(path) == hazard
    if registry is not None and registry.endswith("-compressed"):
        with pytest.raises(UnreadableFileError, match=f"the file is {registry}; unpack it"):
            sniff_registry(path)
    elif registry is not None:
        assert sniff_registry(path) == registry
