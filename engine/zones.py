"""Zone layers for the overlay: admin units, climate zones and user polygon layers.

A :class:`ZoneLayer` is a polygon layer with one attribute row per polygon. Its point-in-polygon
grid index is built on first use and kept with the layer, so a planner re-running scenarios
pays for it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rahat.engine.kernels.polygons import PolygonIndex, build_polygon_index

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj


@dataclass(eq=False)
class ZoneLayer:
    """A polygon layer households are assigned to.

    Parameters
    ----------
    name
        Layer name in the exposure (``province``, ``district``, ``tehsil``, ``climate``, ...).
    geometries
        Valid polygonal geometries (object array) in ``crs``.
    crs
        CRS of the geometries.
    table
        One row per geometry; at least a ``name`` column, ``pcode`` where known.
    priority
        Where polygons overlap, the highest priority wins (ties: lowest row). ``None``: the
        lowest row wins, which for admin units only matters on shared boundaries.
    """

    name: str
    geometries: np.ndarray
    crs: pyproj.CRS
    table: pd.DataFrame
    priority: np.ndarray | None = None
    _index: PolygonIndex | None = field(default=None, init=False, repr=False)

    @property
    def index(self) -> PolygonIndex:
        """The layer's point-in-polygon grid index (built once, on first use)."""
        if self._index is None:
            self._index = build_polygon_index(self.geometries, priority=self.priority)
        return self._index

    @classmethod
    def from_frame(
        cls,
        frame: gpd.GeoDataFrame,
        name: str,
        name_column: str,
        pcode_column: str | None = None,
        priority_column: str | None = None,
    ) -> ZoneLayer:
        """Build a zone layer from a GeoDataFrame (for example a planner's livelihood zones).

        Parameters
        ----------
        frame
            Polygons with a CRS.
        name
            Layer name.
        name_column
            Column holding each zone's name.
        pcode_column
            Column holding P-codes, if any.
        priority_column
            Numeric column deciding overlaps (highest wins), if any.
        """
        from rahat.geo.errors import CRSError

        if frame.crs is None:
            raise CRSError(f"zone layer {name!r} has no CRS; set one before using it")
        table = pd.DataFrame({"name": frame[name_column].astype(str).to_numpy()})
        if pcode_column is not None:
            table["pcode"] = frame[pcode_column].astype(str).to_numpy()
        priority = None
        if priority_column is not None:
            priority = frame[priority_column].to_numpy(dtype=np.float64)
        return cls(name, frame.geometry.to_numpy(), frame.crs, table, priority)


def admin_zone_layers(
    levels: tuple[str, ...] = ("province", "district", "tehsil"),
) -> list[ZoneLayer]:
    """Return the real admin boundaries bundled with Rahat as zone layers.

    ``province`` and ``district`` cover Pakistan (2023 census set, OSM boundaries);
    ``tehsil`` covers Sindh only (OCHA COD-AB, with P-codes), the only tehsil polygons
    published openly.

    Parameters
    ----------
    levels
        Which of ``province``, ``district``, ``tehsil`` to return.
    """
    from rahat.geo import boundaries

    layers = []
    for level in levels:
        if level == "province":
            frame = boundaries.provinces()
            table = pd.DataFrame({"name": frame["province"].to_numpy()})
        elif level == "district":
            frame = boundaries.districts()
            table = pd.DataFrame(
                {
                    "name": frame["district"].to_numpy(),
                    "province": frame["province"].to_numpy(),
                    "pcode": frame["district_pcode"].to_numpy(dtype=object),
                }
            )
        elif level == "tehsil":
            frame = boundaries.sindh_tehsils()
            table = pd.DataFrame(
                {
                    "name": frame["tehsil"].to_numpy(),
                    "pcode": frame["tehsil_pcode"].to_numpy(),
                    "district_pcode": frame["district_pcode"].to_numpy(),
                }
            )
        else:
            raise ValueError(f"unknown admin level {level!r}; use province, district or tehsil")
        layers.append(ZoneLayer(level, frame.geometry.to_numpy(), frame.crs, table))
    return layers


def climate_zone_layer() -> ZoneLayer:
    """Return the Köppen-Geiger climate zones as the ``climate`` zone layer.

    The agro-climatic stand-in until an official agro-ecological zone layer is supplied.
    """
    from rahat.geo import boundaries

    frame = boundaries.climate_zones()
    table = pd.DataFrame({"name": frame["zone"].to_numpy(), "zone_num": frame["zone_num"]})
    return ZoneLayer("climate", frame.geometry.to_numpy(), frame.crs, table)


def default_zone_layers() -> list[ZoneLayer]:
    """Admin units (province, district, Sindh tehsils) and climate zones."""
    return [*admin_zone_layers(), climate_zone_layer()]


def read_zone_layer(
    path: str | Path,
    name: str,
    field: str,
    *,
    layer: str | None = None,
    crs: str | None = None,
) -> ZoneLayer:
    """Read a user polygon layer (livelihood zones, ...) as the zone layer ``name``.

    Read and validated like a vector hazard layer (:func:`rahat.geo.hazards.read_hazard`:
    GeoJSON, GeoPackage, zipped Shapefile, TopoJSON, GeoParquet; geometries repaired, a layer
    without CRS refused unless ``crs`` is given); ``field`` holds each zone's name. Where zones
    overlap, the first polygon wins. Kept per file (path, size, modification time), so the
    polygon index is built once.

    Raises
    ------
    rahat.geo.errors.InputError
        If the file cannot be read, is not a polygon layer, or has no attribute ``field``.
    """
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        from rahat.geo.errors import UnreadableFileError

        raise UnreadableFileError(
            f"zone layer '{name}' not found; fix its path under 'zones'", source=p
        ) from None
    return _read_zone_layer(str(p), stat.st_mtime_ns, stat.st_size, name, field, layer, crs)


@lru_cache(maxsize=16)
def _read_zone_layer(
    path: str,
    mtime_ns: int,
    size: int,
    name: str,
    field_name: str,
    layer: str | None,
    crs: str | None,
) -> ZoneLayer:
    from rahat.geo.errors import AttributeFieldError, SchemaError
    from rahat.geo.hazards import read_hazard

    read = read_hazard(path, kind="generic", name=name, crs=crs, layer=layer)
    if read.vector is None:
        raise SchemaError(
            f"zone layer '{name}' is a raster; a zone layer must be polygons", source=path
        )
    frame = read.vector
    if field_name not in frame.columns:
        fields = [c for c in frame.columns if c not in ("geometry", "value")]
        raise AttributeFieldError(
            f"zone layer '{name}' has no attribute '{field_name}' (attributes: "
            f"{', '.join(map(str, fields)) or 'none'}); fix 'field' under 'zones'",
            source=path,
        )
    frame = frame.set_crs(read.crs, allow_override=True)
    return ZoneLayer.from_frame(frame, name, field_name)
