"""The one hazard layer type every reader produces and the engine consumes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.geo.hazards.classes import NODATA_CODE, Classification
from rahat.geo.hazards.grid import RasterGrid
from rahat.geo.hazards.kinds import HazardKind
from rahat.geo.hazards.provenance import Provenance

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

    from rahat.geo.hazards.time import TimeApplied


@dataclass(frozen=True)
class RasterStats:
    """Summary of a raster computed while it was validated (one streaming pass).

    Parameters
    ----------
    valid_count
        Number of cells holding data.
    minimum, maximum
        Range of the valid values (``None`` if there are none).
    class_area_m2
        Equal-area m² per class code, index 0 = code -1 (no data), index ``i + 1`` = code ``i``.
    classes
        The classification ``class_area_m2`` was computed with.
    infinite_count
        Number of +inf / -inf cells (treated as no data).
    """

    valid_count: int
    minimum: float | None
    maximum: float | None
    class_area_m2: np.ndarray
    classes: Classification
    infinite_count: int = 0


@dataclass(frozen=True, eq=False)
class HazardLayer:
    """A validated hazard footprint in its native CRS.

    Exactly one of ``grid`` and ``vector`` is set.

    Parameters
    ----------
    name
        Human-readable name (defaults to the file stem).
    kind
        What the values measure.
    units
        Units of the values.
    crs
        Native CRS (never changed unless the caller asks for resampling).
    grid
        Raster values (lazy for files, in memory for derived grids), or ``None``.
    vector
        Valid polygon geometries in ``crs`` with a float column ``value`` (intensity or class),
        or ``None``.
    valid_time
        ``(start, end)`` the values are valid for (equal for an instant), or ``None``.
    provenance
        File name, sha256, sender, time of receipt.
    classes
        Classification applied by :meth:`classify`.
    source_format
        Format the layer was read from (``geotiff``, ``netcdf``, ``geojson``, ...).
    warnings
        Problems that were repaired or are worth telling the sender about.
    stats
        Summary computed while validating a raster (internal cache), or ``None``.
    time_applied
        How the file's time axis was reduced (``None`` when it has none).
    """

    name: str
    kind: HazardKind
    units: str
    crs: pyproj.CRS
    grid: RasterGrid | None
    vector: gpd.GeoDataFrame | None
    valid_time: tuple[datetime, datetime] | None
    provenance: Provenance
    classes: Classification
    source_format: str = ""
    warnings: tuple[str, ...] = ()
    stats: RasterStats | None = field(default=None, repr=False)
    time_applied: TimeApplied | None = None

    @property
    def is_raster(self) -> bool:
        """``True`` for a raster layer, ``False`` for a vector layer."""
        return self.grid is not None

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Return int8 class codes of raw ``values`` (0 = none, -1 = NaN or no data).

        Values equal to the grid's no-data sentinel, and infinite values, get -1; the
        comparison rule is the one of :class:`Classification` (thresholds cast to the values'
        dtype).
        """
        values = np.asarray(values)
        codes = self.classes.classify(values)
        if self.grid is not None:
            codes[~self.grid.valid(values)] = NODATA_CODE
        return codes

    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in the layer's CRS."""
        if self.grid is not None:
            return self.grid.bounds
        assert self.vector is not None
        minx, miny, maxx, maxy = (float(v) for v in self.vector.total_bounds)
        return (minx, miny, maxx, maxy)

    def extent_wgs84(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees (EPSG:4326), edges densified."""
        from pyproj import CRS, Transformer

        wgs84 = CRS.from_epsg(4326)
        if self.crs.equals(wgs84, ignore_axis_order=True):
            return self.bounds()
        tr = Transformer.from_crs(self.crs, wgs84, always_xy=True)
        west, south, east, north = tr.transform_bounds(*self.bounds(), densify_pts=21)
        return (float(west), float(south), float(east), float(north))

    def with_classes(self, classes: Classification) -> HazardLayer:
        """Return a copy classified with ``classes`` (e.g. a scenario's override)."""
        return dataclasses.replace(self, classes=classes, stats=None)

    def replace(self, **changes: Any) -> HazardLayer:
        """Return a copy with fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
