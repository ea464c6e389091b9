"""Read polygon footprints (GeoJSON, GeoPackage, Shapefile, TopoJSON, GeoParquet) and validate.

The result is a GeoDataFrame in the file's own CRS with valid (multi)polygons and a float
column ``value``: the intensity attribute when one is named, otherwise 1.0 (inside the
footprint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.geo.errors import (
    AttributeFieldError,
    EmptyDataError,
    GeometryError,
    SchemaError,
    TooLargeError,
    UnreadableFileError,
)
from rahat.geo.hazards.crs import resolve_crs
from rahat.geo.hazards.limits import HazardLimits

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

_ARCS_LAYER = "TopoJSON"


@dataclass
class VectorSource:
    """What the vector reader found."""

    frame: gpd.GeoDataFrame
    crs: pyproj.CRS
    names: list[str] = field(default_factory=list)


def _few(index: np.ndarray, n: int = 5) -> str:
    items = ", ".join(str(int(i)) for i in index[:n])
    return items + (f" and {len(index) - n} more" if len(index) > n else "")


def _unreadable(source: str | Path, exc: Exception) -> UnreadableFileError:
    return UnreadableFileError(
        f"cannot be read as a vector layer; the file is truncated, corrupt or of an unknown "
        f"format ({exc}); ask the sender for a valid GeoJSON, GeoPackage or zipped Shapefile",
        source=source,
    )


def _pick_layer(gdal_path: str, layer: str | None, source: str | Path) -> str | None:
    import pyogrio

    try:
        layers = pyogrio.list_layers(gdal_path)
    except Exception as exc:
        raise _unreadable(source, exc) from None
    names = [str(n) for n, _ in layers]
    if layer is not None:
        if layer not in names:
            raise SchemaError(
                f"has no layer {layer!r}; its layers are: {', '.join(names)}", source=source
            )
        return layer
    candidates = [
        str(n) for n, g in layers if n != _ARCS_LAYER and (g is None or "Point" not in str(g))
    ] or [str(n) for n, _ in layers if n != _ARCS_LAYER]
    if len(candidates) > 1:
        raise SchemaError(
            f"holds several layers ({', '.join(candidates)}); name the one to use "
            "(layer=... / --layer)",
            source=source,
        )
    return candidates[0] if candidates else None


def _read_frame(
    gdal_path: str, fmt: str, layer: str | None, limits: HazardLimits, source: str | Path
) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pyogrio

    if not gdal_path.startswith("/vsi"):
        size = Path(gdal_path).stat().st_size
        if size > limits.max_vector_bytes:
            raise TooLargeError(
                f"is {size:,} bytes, more than the limit of {limits.max_vector_bytes:,} for a "
                "vector layer; clip or simplify it, or raise HazardLimits.max_vector_bytes",
                source=source,
            )
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.ParquetFile(gdal_path).metadata.num_rows
        except Exception as exc:
            raise _unreadable(source, exc) from None
        _check_features(rows, limits, source)
        try:
            return gpd.read_parquet(gdal_path)
        except Exception as exc:
            raise _unreadable(source, exc) from None
    name = _pick_layer(gdal_path, layer, source)
    try:
        info = pyogrio.read_info(gdal_path, layer=name)
    except Exception as exc:
        raise _unreadable(source, exc) from None
    _check_features(int(info.get("features") or 0), limits, source)
    try:
        return pyogrio.read_dataframe(gdal_path, layer=name)
    except Exception as exc:
        raise _unreadable(source, exc) from None


def _check_features(n: int, limits: HazardLimits, source: str | Path) -> None:
    if n > limits.max_features:
        raise TooLargeError(
            f"has {n:,} features, more than the limit of {limits.max_features:,}; dissolve or "
            "clip it first, or raise HazardLimits.max_features",
            source=source,
        )


def _check_geometries(
    gdf: gpd.GeoDataFrame,
    limits: HazardLimits,
    source: str | Path,
    warnings: list[str],
    fmt: str = "",
) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import shapely

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    empty = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(empty):
        broken = (
            "; the TopoJSON is broken (its geometries refer to arcs it does not hold, or its "
            "arcs are malformed), ask the sender for the file again"
            if fmt == "topojson"
            else ""
        )
        raise GeometryError(
            f"{len(empty)} of {len(gdf)} features have an empty or missing geometry (rows "
            f"{_few(empty)}){broken}; remove them or give them a footprint and send the file "
            "again",
            source=source,
        )
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, [3, 6, 7]))  # Polygon, MultiPolygon, collection
    if len(bad):
        kinds = sorted({shapely.get_type_id(g) for g in geoms[bad]})
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint", 5: "MultiLine"}
        found = ", ".join(names.get(k, str(k)) for k in kinds)
        raise GeometryError(
            f"{len(bad)} features are not polygons ({found}; rows {_few(bad)}); a footprint "
            "must be polygons; send point grids as CSV lon,lat,value",
            source=source,
        )
    n_vertices = int(shapely.get_num_coordinates(geoms).sum())
    if n_vertices > limits.max_vertices:
        raise TooLargeError(
            f"has {n_vertices:,} vertices, more than the limit of {limits.max_vertices:,}; "
            "simplify it (e.g. ogr2ogr -simplify) or raise HazardLimits.max_vertices",
            source=source,
        )
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        repaired = np.array([_polygonal(g) for g in repaired], dtype=object)
        lost = np.flatnonzero(shapely.is_empty(repaired))
        if len(lost):
            raise GeometryError(
                f"features at rows {_few(invalid[lost])} are invalid and collapse to nothing "
                "when repaired; fix or remove them",
                source=source,
            )
        geoms = geoms.copy()
        geoms[invalid] = repaired
        warnings.append(
            f"repaired {len(invalid)} invalid geometries with make_valid (rows {_few(invalid)})"
        )
    collections = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    if len(collections):
        geoms = geoms.copy()
        geoms[collections] = [_polygonal(g) for g in geoms[collections]]
        lost = collections[shapely.is_empty(geoms[collections])]
        if len(lost):
            raise GeometryError(
                f"features at rows {_few(lost)} are collections without polygons; a footprint "
                "must be polygons",
                source=source,
            )
    if len(invalid) or len(collections):
        gdf = gdf.copy()
        gdf[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return gdf


def _polygonal(geom: Any) -> Any:
    import shapely

    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys)


def _intensity(gdf: gpd.GeoDataFrame, field_name: str | None, source: str | Path) -> np.ndarray:
    import pandas as pd

    if field_name is None:
        return np.ones(len(gdf), dtype=float)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    if field_name not in columns:
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(gdf[c])]
        raise AttributeFieldError(
            f"has no attribute {field_name!r} to use as intensity; numeric attributes are: "
            f"{', '.join(map(str, numeric)) or 'none'}",
            source=source,
        )
    col = gdf[field_name]
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return np.asarray(col, dtype=float)
    converted = pd.to_numeric(col, errors="coerce")
    bad = np.flatnonzero(converted.isna().to_numpy() & col.notna().to_numpy())
    if len(bad):
        sample = col.iloc[int(bad[0])]
        raise AttributeFieldError(
            f"attribute {field_name!r} is not numeric (row {int(bad[0])} holds {sample!r}); "
            "name a numeric attribute as intensity",
            source=source,
        )
    return np.asarray(converted, dtype=float)


def read_vector(
    gdal_path: str,
    fmt: str,
    *,
    source: str | Path,
    crs: pyproj.CRS | None,
    layer: str | None,
    intensity_field: str | None,
    limits: HazardLimits,
    warnings: list[str],
) -> VectorSource:
    """Read and validate a polygon layer.

    Parameters
    ----------
    gdal_path
        Path (or ``/vsizip/...`` path) to read.
    fmt
        Sniffed format (``parquet`` is read with pyarrow, all others with pyogrio).
    source
        The file as the user named it (for messages).
    crs
        CRS stated by the caller, used when the file has none.
    layer
        Layer to read from a multi-layer file.
    intensity_field
        Numeric attribute holding intensity or class; ``None`` gives every polygon 1.0.
    limits
        Size limits.
    warnings
        List that receives warnings (for example repaired geometries).

    Raises
    ------
    UnreadableFileError, TooLargeError, EmptyDataError, CRSError, GeometryError,
    AttributeFieldError, SchemaError
    """
    import geopandas as gpd
    from pyproj import CRS

    gdf = _read_frame(gdal_path, fmt, layer, limits, source)
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        columns = [str(c) for c in getattr(gdf, "columns", [])]
        raise SchemaError(
            f"has no geometries, only a table with columns {columns[:10]}; a point grid is "
            "sent as a comma-separated CSV with lon,lat,value columns, a footprint as polygons",
            source=source,
        )
    if len(gdf) == 0:
        raise EmptyDataError(
            "the layer has no features; ask the sender for the footprint", source=source
        )
    # geometries first: a broken file (a TopoJSON whose arcs do not resolve) is reported as
    # broken, not as missing a CRS
    values = _intensity(gdf, intensity_field, source)
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
        warnings.append(
            f"{int(infinite.sum())} features have an infinite {intensity_field!r} (rows "
            f"{_few(np.flatnonzero(infinite))}); they are treated as no data"
        )
    gdf = _check_geometries(gdf, limits, source, warnings, fmt)
    file_crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    layer_crs = resolve_crs(file_crs, crs, source)
    gdf = gdf.set_crs(layer_crs, allow_override=True)
    gdf = gdf.assign(value=values)
    names = [intensity_field or ""]
    return VectorSource(frame=gdf.reset_index(drop=True), crs=layer_crs, names=names)
