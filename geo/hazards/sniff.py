"""Recognise a hazard file's format from its first bytes (the extension is only a hint)."""

from __future__ import annotations

import re
from pathlib import Path

from rahat.geo.errors import UnreadableFileError

#: Formats :func:`sniff_format` answers with.
FORMATS = (
    "tiff",
    "netcdf",
    "zip",
    "gpkg",
    "parquet",
    "geojson",
    "topojson",
    "csv",
    "shapefile",
    "unknown",
)

_HEAD = 65536
_TOPOLOGY = re.compile(rb'"type"\s*:\s*"Topology"')
_LONLAT = re.compile(r"^\W*(lon|longitude|lng|long|x)\W*$", re.IGNORECASE)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        return exc.start >= len(head) - 4
    return True


def _looks_like_csv(head: bytes) -> bool:
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[:1]
    if not first:
        return False
    cells = [c.strip().strip('"') for c in first[0].split(",")]
    return len(cells) >= 3 and any(_LONLAT.match(c) for c in cells)


def sniff_format(path: str | Path) -> str:
    """Return the format of ``path``: one of :data:`FORMATS`.

    Raises
    ------
    rahat.geo.errors.UnreadableFileError
        If the file is missing, a folder or empty.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError("file not found; check the path", source=path)
    if path.is_dir():
        raise UnreadableFileError("is a folder, not a file; zip it or name the file", source=path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        raise UnreadableFileError("file is empty (0 bytes); ask the sender again", source=path)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"\x89HDF" or head[:4] in (b"CDF\x01", b"CDF\x02", b"CDF\x05"):
        return "netcdf"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shapefile"
    if _is_text(head):
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped[:1] in (b"{", b"["):
            return "topojson" if _TOPOLOGY.search(head) else "geojson"
        if _looks_like_csv(head):
            return "csv"
    return "unknown"
