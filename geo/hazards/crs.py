"""CRS handling shared by the readers: parse what the caller states, reconcile with the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.geo.errors import CRSError

if TYPE_CHECKING:
    import pyproj


def parse_crs(value: Any, *, source: str | Path | None = None) -> pyproj.CRS | None:
    """Return ``value`` (``EPSG:xxxx``, WKT, int, ``pyproj.CRS``) as a CRS, or ``None``.

    Raises
    ------
    rahat.geo.errors.CRSError
        If ``value`` is not a CRS pyproj understands.
    """
    if value is None:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjCRSError

    try:
        return CRS.from_user_input(value)
    except ProjCRSError:
        raise CRSError(
            f"{value!r} is not a CRS; give it as EPSG:xxxx (for example EPSG:4326)",
            source=source,
        ) from None


def resolve_crs(
    file_crs: pyproj.CRS | None, caller_crs: pyproj.CRS | None, source: str | Path
) -> pyproj.CRS:
    """Return the layer CRS: the file's, or the caller's if the file has none.

    Raises
    ------
    rahat.geo.errors.CRSError
        If neither has a CRS, or both have one and they differ.
    """
    if file_crs is None:
        if caller_crs is None:
            raise CRSError(
                "the file has no CRS; ask the sender which CRS it is in and pass it "
                "(crs=... / --crs EPSG:xxxx)",
                source=source,
            )
        return caller_crs
    if caller_crs is not None and not file_crs.equals(caller_crs, ignore_axis_order=True):
        raise CRSError(
            f"the file says its CRS is {file_crs.to_string()} but {caller_crs.to_string()} was "
            "stated; leave out the stated CRS or fix the file",
            source=source,
        )
    return file_crs
