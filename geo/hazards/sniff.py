"""Recognise a hazard file's format from its first bytes (the extension is only a hint)."""

from __future__ import annotations

import os
import re
import stat
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


#: Separators a header row of a point CSV may use (all but ``,`` are refused when read).
CSV_SEPARATORS = (",", ";", "\t", "|")


def _looks_like_csv(head: bytes) -> bool:
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[:1]
    if not first:
        return False
    for sep in CSV_SEPARATORS:
        cells = [c.strip().strip('"') for c in first[0].split(sep)]
        if len(cells) >= 2 and any(_LONLAT.match(c) for c in cells):
            return True
    return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_head(path: str | Path, size: int = _HEAD) -> bytes:
    """Return the first ``size`` bytes of ``path``, refusing anything but a regular file.

    The file is opened without blocking and checked with ``fstat`` on the open descriptor, so
    a FIFO, socket or device never blocks the reader (and cannot be swapped in after a check).

    Raises
    ------
    rahat.geo.errors.UnreadableFileError
        If the path is missing, a folder, a FIFO, a socket or a device, or cannot be read.
    """
    try:
        _check_regular(os.stat(path).st_mode, path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UnreadableFileError("file not found; check the path", source=path) from None
    except OSError as exc:
        raise UnreadableFileError(
            f"cannot be opened ({exc.strerror}); check the path", source=path
        ) from None
    try:
        _check_regular(os.fstat(fd).st_mode, path)  # the file opened is the file checked
        return os.read(fd, size)
    finally:
        os.close(fd)


def _check_regular(mode: int, path: str | Path) -> None:
    if stat.S_ISDIR(mode):
        raise UnreadableFileError("is a folder, not a file; zip it or name the file", source=path)
    if not stat.S_ISREG(mode):
        raise UnreadableFileError(
            f"is {_kind(mode)}, not a regular file; only regular files are read, send the "
            "layer as a file",
            source=path,
        )


def sniff_format(path: str | Path) -> str:
    """Return the format of ``path``: one of :data:`FORMATS`.

    Raises
    ------
    rahat.geo.errors.UnreadableFileError
        If the file is missing, a folder, not a regular file (FIFO, socket, device) or empty.
    """
    path = Path(path)
    head = read_head(path)
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
