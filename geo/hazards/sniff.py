"""Recognise a hazard file's format from its first bytes (the extension is only a hint)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
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
    "cap",
    "unknown",
)

_HEAD = 65536
#: Leading bytes of the binary formats, and the format each marks.
_MAGIC = (
    *((m, "tiff") for m in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),
    *((m, "netcdf") for m in (b"\x89HDF", b"CDF\x01", b"CDF\x02", b"CDF\x05")),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"SQLite format 3\x00", "gpkg"),
    (b"PAR1", "parquet"),
    (b"\x00\x00\x27\x0a", "shapefile"),
)
_TOPOLOGY = re.compile(rb'"type"\s*:\s*"Topology"')
#: An XML document that is (or claims to be) a CAP alert: the CAP namespace or an ``<alert>``.
_CAP = re.compile(rb"urn:oasis:names:tc:emergency:cap:|<(?:[A-Za-z_][\w.-]*:)?alert[\s>/]")
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


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a folder, not a file; zip it or name the file"
    return (
        f"is {_kind(mode)}, not a regular file; only regular files are read, send the layer as "
        "a file"
    )


def _cannot_open(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found; check the path"
    return f"cannot be opened ({exc.strerror}); check the path"


def read_head(
    path: str | Path,
    size: int = _HEAD,
    *,
    not_regular: Callable[[int], str] = _not_regular,
    cannot_open: Callable[[OSError], str] = _cannot_open,
) -> bytes:
    """Return the first ``size`` bytes of ``path``, refusing anything but a regular file.

    The file is opened without blocking and checked with ``fstat`` on the open descriptor, so
    a FIFO, socket or device never blocks the reader (and cannot be swapped in after a check).
    Every format sniffer (hazard layers here, registries in :mod:`rahat.geo.registry.io`)
    reads its sample with this function.

    Parameters
    ----------
    path
        The file.
    size
        Number of bytes to read at most.
    not_regular
        Message for a path that is not a regular file, given its ``st_mode``.
    cannot_open
        Message for a path that cannot be opened, given the error.

    Raises
    ------
    rahat.geo.errors.UnreadableFileError
        If the path is missing, a folder, a FIFO, a socket or a device, or cannot be read.
    """

    def check_regular(mode: int) -> None:
        if not stat.S_ISREG(mode):
            raise UnreadableFileError(not_regular(mode), source=path)

    try:
        check_regular(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UnreadableFileError(cannot_open(exc), source=path) from None
    try:
        check_regular(os.fstat(fd).st_mode)  # the file opened is the file checked
        return os.read(fd, size)
    finally:
        os.close(fd)


def magic_format(head: bytes, magic: Sequence[tuple[bytes, str]]) -> str | None:
    """Return the format of the first ``(prefix, format)`` of ``magic`` that ``head`` starts with.

    Parameters
    ----------
    head
        The first bytes of a file (:func:`read_head`).
    magic
        Leading bytes and the format they mark, tried in order.

    Returns
    -------
    str or None
        The format, or ``None`` if no prefix matches.
    """
    return next((fmt for prefix, fmt in magic if head.startswith(prefix)), None)


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
    found = magic_format(head, _MAGIC)
    if found is not None:
        return found
    if _is_text(head):
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped[:1] in (b"{", b"["):
            return "topojson" if _TOPOLOGY.search(head) else "geojson"
        if _looks_like_csv(head):
            return "csv"
        if stripped[:1] == b"<" and _CAP.search(head):
            return "cap"
    return "unknown"
