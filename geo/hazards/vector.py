"""Read polygon footprints (GeoJSON, GeoPackage, Shapefile, TopoJSON, GeoParquet) and validate.

The result is a GeoDataFrame in the file's own CRS with valid (multi)polygons and a float
column ``value``: the intensity attribute when one is named, otherwise 1.0 (inside the
footprint).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

_ARCS_LAYER = "TopoJSON"

#: Formats read as polygon layers (``gdal-vector``: anything else OGR reads).
VECTOR_FORMATS = ("geojson", "topojson", "gpkg", "shapefile", "parquet", "gdal-vector")
#: Count limits of a vector layer: the ``HazardLimits`` field and what to do when above it.
_COUNT_LIMITS = {
    "features": ("max_features", "dissolve or clip it first, or raise"),
    "vertices": ("max_vertices", "simplify it (e.g. ogr2ogr -simplify) or raise"),
}


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

    _check_bytes(gdal_path, limits, source)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.ParquetFile(gdal_path).metadata.num_rows
        except Exception as exc:
            raise _unreadable(source, exc) from None
        _check_count(rows, "features", limits, source)
        try:
            return gpd.read_parquet(gdal_path)
        except Exception as exc:
            raise _unreadable(source, exc) from None
    name = _pick_layer(gdal_path, layer, source)
    try:
        info = pyogrio.read_info(gdal_path, layer=name)
    except Exception as exc:
        raise _unreadable(source, exc) from None
    _check_count(int(info.get("features") or 0), "features", limits, source)
    try:
        return pyogrio.read_dataframe(gdal_path, layer=name)
    except Exception as exc:
        raise _unreadable(source, exc) from None


def _check_bytes(gdal_path: str, limits: HazardLimits, source: str | Path) -> None:
    if not gdal_path.startswith("/vsi"):
        size = Path(gdal_path).stat().st_size
        if size > limits.max_vector_bytes:
            raise TooLargeError(
                f"is {size:,} bytes, more than the limit of {limits.max_vector_bytes:,} for a "
                "vector layer; clip or simplify it, or raise HazardLimits.max_vector_bytes",
                source=source,
            )


def _check_count(n: int, what: str, limits: HazardLimits, source: str | Path) -> None:
    """Raise :class:`TooLargeError` if the layer has more ``what`` than its limit allows."""
    name, advice = _COUNT_LIMITS[what]
    limit = getattr(limits, name)
    if n > limit:
        raise TooLargeError(
            f"has {n:,} {what}, more than the limit of {limit:,}; {advice} HazardLimits.{name}",
            source=source,
        )


def _check_geometries(
    gdf: gpd.GeoDataFrame,
    limits: HazardLimits,
    source: str | Path,
    warnings: list[str],
    fmt: str = "",
) -> tuple[gpd.GeoDataFrame, int]:
    """Refuse empty, non-polygonal or too large layers; repair invalid features.

    Returns the layer with valid polygonal geometries (see :func:`polygonal_parts`) and its
    number of vertices.
    """
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
    _check_count(n_vertices, "vertices", limits, source)
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    collections = np.flatnonzero(types == 7)
    todo = np.union1d(invalid, collections)
    if len(todo):
        fixed = polygonal_parts(geoms[todo])
        lost = todo[shapely.is_empty(fixed)]
        lost_invalid = lost[np.isin(lost, invalid)]
        if len(lost_invalid):
            raise GeometryError(
                f"features at rows {_few(lost_invalid)} are invalid and collapse to nothing "
                "when repaired; fix or remove them",
                source=source,
            )
        if len(lost):
            raise GeometryError(
                f"features at rows {_few(lost)} are collections without polygons; a footprint "
                "must be polygons",
                source=source,
            )
        geoms = geoms.copy()
        geoms[todo] = fixed
        gdf = gdf.copy()
        gdf[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    if len(invalid):
        warnings.append(
            f"repaired {len(invalid)} invalid geometries with make_valid (rows {_few(invalid)})"
        )
    return gdf, n_vertices


def _flat_polygons(geoms: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Explode (multi)polygons and nested collections into non-empty polygons and owners."""
    import shapely

    while True:
        types = shapely.get_type_id(geoms)
        nested = np.isin(types, (6, 7))
        if not nested.any():
            break
        parts, part_of = shapely.get_parts(geoms[nested], return_index=True)
        geoms = np.concatenate([geoms[~nested], parts])
        owner = np.concatenate([owner[~nested], owner[nested][part_of]])
    keep = (shapely.get_type_id(geoms) == 3) & ~shapely.is_empty(geoms)
    return geoms[keep], owner[keep]


def polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """Return each geometry as valid polygon parts, repairing only the invalid parts.

    Every geometry is split into its polygons (multipolygons and collections exploded, lines
    and points dropped); the parts that are invalid on their own (bow-ties, bad holes) are
    repaired by one vectorised :func:`shapely.make_valid` call (``structure`` method, collapsed
    parts dropped) and exploded again. The parts are **not** unioned: a geometry with one part
    becomes that Polygon, one with several a GeometryCollection of valid polygons that may
    overlap or touch, which :func:`rahat.engine.kernels.polygons.build_polygon_index` takes as
    they are (one polygon repaired into several stays the valid MultiPolygon ``make_valid``
    made of it). As a point set the result equals ``make_valid(geometry,
    method="structure")``, which repairs each polygon and unions them, without the cost of
    that union.

    Parameters
    ----------
    geoms
        Object array of Polygon / MultiPolygon / GeometryCollection geometries.

    Returns
    -------
    numpy.ndarray
        Object array of the same length: Polygon, GeometryCollection of Polygons, or an empty
        Polygon where nothing polygonal is left.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    parts, owner = _flat_polygons(geoms, np.arange(len(geoms)))
    # one original part per feature: its repair is one valid (multi)polygon, kept as such
    originals = np.bincount(owner, minlength=len(geoms))
    bad = ~shapely.is_valid(parts)
    if bad.any():
        repaired = shapely.make_valid(parts[bad], method="structure", keep_collapsed=False)
        fixed, fixed_owner = _flat_polygons(repaired, owner[bad])
        parts = np.concatenate([parts[~bad], fixed])
        owner = np.concatenate([owner[~bad], fixed_owner])
    order = np.argsort(owner, kind="stable")
    parts, owner = parts[order], owner[order]
    counts = np.bincount(owner, minlength=len(geoms))
    out = np.empty(len(geoms), dtype=object)
    out[:] = [shapely.Polygon()] * len(geoms)
    single = counts == 1
    out[single] = parts[np.isin(owner, np.flatnonzero(single))]
    for build, group in (
        (shapely.multipolygons, (counts > 1) & (originals == 1)),
        (shapely.geometrycollections, (counts > 1) & (originals > 1)),
    ):
        several = np.flatnonzero(group)
        if len(several):
            mine = np.isin(owner, several)
            out[several] = build(parts[mine], indices=np.searchsorted(several, owner[mine]))
    return out


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


@READERS.register(*VECTOR_FORMATS)
def read_vector(request: ReadRequest, *, store: bool = True) -> ReadResult:
    """Read and validate a polygon layer, or take it prepared from the store.

    A layer of at least :data:`~rahat.geo.hazards.prepared.MIN_STORED_VERTICES` vertices is
    kept, repaired and validated, in the prepared store (:mod:`rahat.geo.hazards.prepared`)
    under the sha256 of the file and the options that change it; the next read of the same
    bytes with the same options loads it (size limits checked again, warnings restored)
    instead of reading and repairing the file again.

    Parameters
    ----------
    request
        The file (``gdal_path`` is what is read, ``path`` names it in messages), its sniffed
        format (``parquet`` is read with pyarrow, all others with pyogrio), the caller's CRS
        (used when the file has none), the layer of a multi-layer file, the numeric attribute
        holding intensity or class (``None`` gives every polygon 1.0), limits and the list
        that receives warnings (for example repaired geometries).
    store
        Use and fill the prepared store (``False``: always read the file).

    Raises
    ------
    UnreadableFileError, TooLargeError, EmptyDataError, CRSError, GeometryError,
    AttributeFieldError, SchemaError
    """
    import geopandas as gpd
    from pyproj import CRS

    from rahat.geo.hazards import prepared

    gdal_path, fmt, source, crs = request.gdal_path, request.fmt, request.path, request.crs
    layer, intensity_field = request.layer, request.intensity_field
    limits, warnings = request.limits, request.warnings
    names = [intensity_field or ""]
    key = _store_key(gdal_path, fmt, source, crs, layer, intensity_field) if store else None
    kept = prepared.load_prepared(key) if key else None
    if kept is not None:
        _check_bytes(gdal_path, limits, source)
        _check_count(kept.features, "features", limits, source)
        _check_count(kept.vertices, "vertices", limits, source)
        warnings.extend(kept.warnings)
        layer_crs = CRS.from_user_input(kept.frame.crs)
        return ReadResult(crs=layer_crs, vector=kept.frame, names=names)
    found: list[str] = []
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
        found.append(
            f"{int(infinite.sum())} features have an infinite {intensity_field!r} (rows "
            f"{_few(np.flatnonzero(infinite))}); they are treated as no data"
        )
    gdf, n_vertices = _check_geometries(gdf, limits, source, found, fmt)
    file_crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    layer_crs = resolve_crs(file_crs, crs, source)
    gdf = gdf.set_crs(layer_crs, allow_override=True)
    gdf = gdf.assign(value=values).reset_index(drop=True)
    warnings.extend(found)
    if key and n_vertices >= prepared.MIN_STORED_VERTICES:
        entry = prepared.Prepared(gdf, tuple(found), len(gdf), n_vertices)
        prepared.store_prepared(key, entry, source=source)
    return ReadResult(crs=layer_crs, vector=gdf, names=names)


def _store_key(
    gdal_path: str,
    fmt: str,
    source: str | Path,
    crs: pyproj.CRS | None,
    layer: str | None,
    intensity_field: str | None,
) -> str | None:
    """Key of the prepared store: source bytes and every option that changes the layer."""
    from rahat.geo.files import sha256_file
    from rahat.geo.hazards.prepared import prepared_key

    path = Path(source)
    if not path.is_file():
        return None
    inner = gdal_path.removeprefix(f"/vsizip/{path.resolve()}") if gdal_path != str(path) else ""
    caller_crs = crs.to_wkt() if crs is not None else None
    try:
        digest = sha256_file(path)
    except OSError:
        return None
    return prepared_key(digest, ["vector", fmt, inner, layer, caller_crs, intensity_field])
