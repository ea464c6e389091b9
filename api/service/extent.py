"""Bounding box of a Parquet or GeoParquet registry, read as cheaply as the file allows.

Used to refuse hazard uploads that do not overlap the registry (a mislabelled CRS, an
Antarctic footprint) at upload time instead of when a run fails later.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: A bounding box ``(min_lon, min_lat, max_lon, max_lat)``.
BBox = tuple[float, float, float, float]

#: Leaf columns holding the coordinates, in the order tried: plain lon/lat, a native point.
_COORDINATE_PATHS = (("lon", "lat"), ("geometry.x", "geometry.y"))


def registry_extent(path: Path) -> BBox | None:
    """Bounding box ``(min_lon, min_lat, max_lon, max_lat)`` of a Parquet registry.

    Tried in order, cheapest first: the GeoParquet ``geo`` metadata's ``bbox`` (footer only),
    the column statistics of ``lon``/``lat`` or of a native point geometry's ``x``/``y`` (footer
    only), then the geometry column itself (that one column is read: WKB or native points).

    Returns
    -------
    tuple of float or None
        ``None`` when the registry is missing, not Parquet, or has no usable coordinates.
    """
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        geo = _geo_metadata(parquet.schema_arrow.metadata)
        return (
            _metadata_bbox(geo)
            or _statistics_bbox(parquet.metadata)
            or _geometry_bbox(path, geo.get("primary_column", "geometry") if geo else "geometry")
        )
    except (ValueError, OSError, KeyError, TypeError):
        return None


def _geo_metadata(metadata: dict[bytes, bytes] | None) -> dict[str, Any] | None:
    raw = (metadata or {}).get(b"geo")
    if raw is None:
        return None
    geo = json.loads(raw)
    return geo if isinstance(geo, dict) else None


def _valid(bbox: list[float] | tuple[float, ...]) -> BBox | None:
    values = tuple(float(v) for v in bbox)
    if len(values) == 6:  # 3-D: min x, y, z, max x, y, z
        values = (values[0], values[1], values[3], values[4])
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return None
    if values[0] > values[2] or values[1] > values[3]:
        return None
    return (values[0], values[1], values[2], values[3])


def _metadata_bbox(geo: dict[str, Any] | None) -> BBox | None:
    """The ``bbox`` of the primary geometry column, when the file states it."""
    if not geo:
        return None
    column = geo.get("columns", {}).get(geo.get("primary_column", "geometry"), {})
    crs = column.get("crs")
    if crs is not None and not _is_lon_lat(crs):
        return None  # a bbox in projected units cannot be compared with hazard extents
    bbox = column.get("bbox")
    return _valid(bbox) if isinstance(bbox, list) and bbox else None


def _is_lon_lat(crs: Any) -> bool:
    """Whether a GeoParquet (PROJJSON) CRS is geographic WGS 84 / OGC:CRS84."""
    if not isinstance(crs, dict):
        return False
    ident = crs.get("id") or {}
    return (ident.get("authority"), ident.get("code")) in {("EPSG", 4326), ("OGC", "CRS84")}


def _statistics_bbox(meta: Any) -> BBox | None:
    """Min and max of the coordinate columns from the row-group statistics, if all have them."""
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    for x_path, y_path in _COORDINATE_PATHS:
        if x_path not in paths or y_path not in paths:
            continue
        bounds = []
        for idx in (paths.index(x_path), paths.index(y_path)):
            lows, highs = [], []
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(idx).statistics
                if stats is None or not stats.has_min_max:
                    break
                lows.append(float(stats.min))
                highs.append(float(stats.max))
            else:
                if lows:
                    bounds.append((min(lows), max(highs)))
        if len(bounds) == 2:
            return _valid((bounds[0][0], bounds[1][0], bounds[0][1], bounds[1][1]))
    return None


def _geometry_bbox(path: Path, column: str) -> BBox | None:
    """Bounds of the geometry column (read alone): WKB or a native point struct."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if column not in pq.read_schema(path).names:
        return None
    values = pq.read_table(path, columns=[column]).column(column).combine_chunks()
    if len(values) == 0:
        return None
    if pa.types.is_struct(values.type):
        xs, ys = values.field("x"), values.field("y")
        x, y = pc.min_max(xs), pc.min_max(ys)
        return _valid((x["min"].as_py(), y["min"].as_py(), x["max"].as_py(), y["max"].as_py()))
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        import shapely

        geoms = shapely.from_wkb(values.to_numpy(zero_copy_only=False))
        return _valid(tuple(shapely.total_bounds(geoms)))
    return None
