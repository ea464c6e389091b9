"""Hazard readers by format: what a reader is given, what it returns, and the registry.

Each reader module registers itself on :data:`READERS` for the formats it reads (the names
:func:`rahat.geo.hazards.sniff.sniff_format` answers with)::

    @READERS.register("netcdf")
    def _read(request: ReadRequest) -> ReadResult: ...

and :func:`rahat.geo.hazards.read_hazard` looks the sniffed format up and calls the reader,
so a new format is one module and one registration (plus its import in
:mod:`rahat.geo.hazards.read`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rahat.geo.hazards.limits import HazardLimits

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

    from rahat.geo.hazards.grid import RasterGrid
    from rahat.geo.hazards.time import TimeApplied, TimeSelection


@dataclass(frozen=True)
class ReadRequest:
    """Everything a reader may need to read one file.

    Parameters
    ----------
    path
        The file as the user named it (for messages and the prepared store).
    gdal_path
        Path GDAL opens (a ``/vsizip/...`` path for a member of a zip).
    fmt
        Format the file was recognised as.
    crs
        CRS stated by the caller, used when the file has none.
    intensity_field
        Vector attribute, CSV column or NetCDF variable with the values.
    time
        How to reduce a time axis.
    limits
        Size limits.
    warnings
        List that receives warnings.
    registry_extent
        ``(west, south, east, north)`` in degrees of the households the layer is for.
    layer
        Layer of a multi-layer vector file.
    """

    path: Path
    gdal_path: str
    fmt: str
    crs: pyproj.CRS | None
    intensity_field: str | None
    time: TimeSelection | None
    limits: HazardLimits
    warnings: list[str]
    registry_extent: tuple[float, float, float, float] | None = None
    layer: str | None = None


@dataclass
class ReadResult:
    """What a reader found: a grid or a polygon layer, its CRS and metadata.

    Parameters
    ----------
    crs
        CRS of the layer.
    grid
        The raster, for gridded formats.
    vector
        The polygons with their ``value`` column, for vector formats.
    names
        Names and descriptions found in the file, used to infer the hazard kind.
    units
        Units of the values, if the file says.
    valid_time
        Time span the values are valid for, if the file says.
    duration_units
        Units of a duration counted over a time axis (``None`` unless one was counted).
    time_applied
        How a time axis was reduced (``None`` when the file has none).
    """

    crs: pyproj.CRS
    grid: RasterGrid | None = None
    vector: gpd.GeoDataFrame | None = None
    names: list[str] = field(default_factory=list)
    units: str | None = None
    valid_time: tuple[datetime, datetime] | None = None
    duration_units: str | None = None
    time_applied: TimeApplied | None = None


Reader = Callable[[ReadRequest], ReadResult]


class Readers:
    """Readers by format name, filled by :meth:`register` (in datashader's ``Dispatcher`` style)."""

    def __init__(self) -> None:
        self._readers: dict[str, Reader] = {}

    def register(self, *names: str) -> Callable[[Reader], Reader]:
        """Return a decorator that registers a reader for the formats ``names``."""

        def decorate(reader: Reader) -> Reader:
            for name in names:
                self._readers[name] = reader
            return reader

        return decorate

    def unregister(self, name: str) -> None:
        """Forget the reader of format ``name`` (no error if there is none)."""
        self._readers.pop(name, None)

    def get(self, name: str) -> Reader | None:
        """Return the reader of format ``name``, or ``None`` if none is registered."""
        return self._readers.get(name)

    def formats(self) -> tuple[str, ...]:
        """Return the registered format names, in registration order."""
        return tuple(self._readers)


#: The hazard readers; each reader module registers itself here.
READERS = Readers()
