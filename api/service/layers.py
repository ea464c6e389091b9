"""Map layers of the planners' page as GeoJSON: admin boundaries and hazard footprint outlines.

Boundaries come from Rahat's own data (:mod:`rahat.geo.boundaries`), each unit carrying the code
the gazetteer gives it (:mod:`rahat.geo.units`; units are matched by code, never by name),
simplified per level and rounded to 4 decimals (about 10 m), built once per process.

A hazard's outline is where the hazard is present, as :meth:`HazardLayer.classify` says (class
above 0, no-data excluded: what the engine calls exposed), dissolved into one (multi)polygon in
EPSG:4326 with at most :data:`MAX_VERTICES` vertices. Rasters are reduced to at most
:data:`MAX_SIDE` cells a side by block maximum of that mask while they are streamed strip by
strip, so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.api.service.lru import LRUCache
from rahat.geo.units import Level, gazetteer

if TYPE_CHECKING:
    import geopandas as gpd
    from affine import Affine
    from shapely import Geometry

    from rahat.geo.hazards import HazardLayer

#: Simplification tolerance (degrees) of each level's boundaries.
TOLERANCES: dict[Level, float] = {
    Level.PROVINCE: 0.005,
    Level.DISTRICT: 0.003,
    Level.TEHSIL: 0.002,
}
#: Decimals kept in boundary coordinates (1e-4 degrees is about 11 m).
BOUNDARY_DECIMALS = 4
#: Decimals kept in outline coordinates (about 1 m).
OUTLINE_DECIMALS = 5
#: Most vertices of a hazard outline.
MAX_VERTICES = 20_000
#: Most cells a side of the mask a raster hazard is polygonized from.
MAX_SIDE = 1000

#: Outlines by (hazard id, file sha256).
_OUTLINES: LRUCache[tuple[str, str], bytes] = LRUCache(32)


def _rounded(geometry: Geometry, decimals: int) -> Geometry:
    """``geometry`` on a grid of ``10**-decimals`` (kept valid); as is if that empties it."""
    import shapely

    snapped = shapely.set_precision(geometry, 10.0**-decimals)
    if snapped.is_empty:
        return geometry
    return shapely.transform(snapped, lambda xy: np.round(xy, decimals))


def _feature(geometry: Geometry, properties: dict[str, Any]) -> dict[str, Any]:
    from shapely.geometry import mapping

    return {"type": "Feature", "geometry": mapping(geometry), "properties": properties}


def _encode(collection: dict[str, Any]) -> bytes:
    return json.dumps(collection, separators=(",", ":"), ensure_ascii=False).encode()


def _units(level: Level) -> gpd.GeoDataFrame:
    """The boundaries of ``level`` with columns ``code``, ``name``, ``province`` (and district)."""
    from rahat.geo.boundaries import districts, provinces, sindh_tehsils

    if level == Level.PROVINCE:
        frame = provinces()
        frame["name"] = frame["province"]
    elif level == Level.DISTRICT:
        frame = districts()
        frame["name"] = frame["district"]
    else:
        frame = sindh_tehsils()
        named = districts().dropna(subset=["district_pcode"])
        osm_names = dict(zip(named["district_pcode"], named["district"], strict=True))
        frame["district"] = [
            osm_names.get(pcode, cod)
            for pcode, cod in zip(frame["district_pcode"], frame["cod_district"], strict=True)
        ]
        frame["name"] = frame["tehsil"]
    codes = gazetteer().codes_of(frame.drop(columns="geometry"))
    frame["code"] = codes[level]
    if level == Level.TEHSIL:
        frame["district_code"] = codes[Level.DISTRICT]
    return frame


@cache
def boundaries(level: Level) -> tuple[bytes, str]:
    """The admin units of ``level`` as a GeoJSON FeatureCollection, and its ETag.

    Parameters
    ----------
    level
        Province, district or tehsil (tehsils: Sindh only, the levels with boundaries).

    Returns
    -------
    tuple of (bytes, str)
        The encoded collection (features sorted by code; properties ``code``, ``name``,
        ``province``, and for tehsils ``district`` and ``district_code``) and a strong ETag.
        Built once per process.
    """
    import shapely

    frame = _units(level).sort_values("code", ignore_index=True)
    simple = shapely.simplify(frame.geometry.to_numpy(), TOLERANCES[level], preserve_topology=True)
    keys = ["code", "name", "province"]
    if level == Level.TEHSIL:
        keys += ["district", "district_code"]
    features = [
        _feature(_rounded(geometry, BOUNDARY_DECIMALS), {key: row[key] for key in keys})
        for geometry, row in zip(simple, frame[keys].to_dict(orient="records"), strict=True)
    ]
    body = _encode({"type": "FeatureCollection", "features": features})
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _polygon_parts(geometries: Any) -> np.ndarray:
    """The polygons of ``geometries`` (multi-parts and collections opened)."""
    import shapely

    parts = shapely.get_parts(np.asarray(geometries, dtype=object))
    while True:
        nested = shapely.get_type_id(parts) == 7  # GeometryCollection
        if not nested.any():
            break
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    polygons: np.ndarray = shapely.get_parts(parts[np.isin(shapely.get_type_id(parts), (3, 6))])
    return polygons


def _presence(layer: HazardLayer) -> tuple[np.ndarray, Affine]:
    """Where a raster hazard is present, reduced to at most :data:`MAX_SIDE` cells a side.

    Streams the grid strip by strip; an output cell is present when any of its input cells is
    (block maximum of the mask). Returns the mask and its pixel-to-CRS transform.
    """
    from affine import Affine

    grid = layer.grid
    assert grid is not None
    height, width = grid.shape
    step = max(1, math.ceil(max(height, width) / MAX_SIDE))
    out = np.zeros((math.ceil(height / step), math.ceil(width / step)), dtype=bool)
    pad = out.shape[1] * step - width
    for window, values in grid.strips():
        present = layer.classify(values) > 0
        if not present.any():
            continue
        if pad:
            present = np.pad(present, ((0, 0), (0, pad)))
        across = present.reshape(present.shape[0], out.shape[1], step).any(axis=2)
        rows = (int(window.row_off) + np.arange(present.shape[0])) // step
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        out[rows[starts]] |= np.logical_or.reduceat(across, starts, axis=0)
    return out, grid.transform @ Affine.scale(step, step)


def _raster_footprint(layer: HazardLayer) -> Geometry:
    """The polygons of a raster hazard's presence mask, in the layer's CRS."""
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    mask, transform = _presence(layer)
    if not mask.any():
        return shapely.MultiPolygon()
    pieces = [
        shape(geometry)
        for geometry, _ in shapes(mask.view(np.uint8), mask=mask, transform=transform)
    ]
    return shapely.union_all(pieces)


def _vector_footprint(layer: HazardLayer) -> Geometry:
    """The dissolved polygons of a vector hazard's features where it is present."""
    import shapely

    vector = layer.vector
    assert vector is not None
    present = layer.classify(vector["value"].to_numpy()) > 0
    geometries = vector.geometry.to_numpy()[present]
    vertices = int(shapely.get_num_coordinates(geometries).sum())
    if vertices > 50 * MAX_VERTICES:  # thin out huge inputs before dissolving them
        minx, miny, maxx, maxy = layer.bounds()
        tolerance = math.hypot(maxx - minx, maxy - miny) / (2 * MAX_VERTICES)
        geometries = shapely.simplify(geometries, tolerance, preserve_topology=True)
    return shapely.union_all(_polygon_parts(geometries))


def _to_wgs84(geometry: Geometry, crs: Any) -> Geometry:
    import geopandas as gpd

    series = gpd.GeoSeries([geometry], crs=crs)
    if series.crs is not None and series.crs.to_epsg() != 4326:
        series = series.to_crs(4326)
    return series.iloc[0]


def _within_vertices(geometry: Geometry, limit: int) -> Geometry:
    """``geometry`` simplified (tolerance doubled from 1e-5°) to at most ``limit`` vertices."""
    import shapely

    tolerance = 10.0**-OUTLINE_DECIMALS
    simple = _rounded(geometry, OUTLINE_DECIMALS)
    while shapely.get_num_coordinates(simple) > limit:
        simple = _rounded(
            shapely.simplify(geometry, tolerance, preserve_topology=True), OUTLINE_DECIMALS
        )
        tolerance *= 2
    return simple


def outline(layer: HazardLayer) -> dict[str, Any]:
    """The footprint outline of a hazard layer as a GeoJSON FeatureCollection (EPSG:4326).

    Returns
    -------
    dict
        One feature (a Polygon or MultiPolygon of at most :data:`MAX_VERTICES` vertices, with
        properties ``name``, ``kind`` and ``vertices``), or none when the hazard is present
        nowhere.
    """
    import shapely

    raw = _raster_footprint(layer) if layer.is_raster else _vector_footprint(layer)
    features = []
    parts = np.zeros(0, dtype=object)
    if not raw.is_empty:
        simple = _within_vertices(shapely.make_valid(_to_wgs84(raw, layer.crs)), MAX_VERTICES)
        parts = _polygon_parts([simple])
    if len(parts):
        geometry = parts[0] if len(parts) == 1 else shapely.MultiPolygon(list(parts))
        properties = {
            "name": layer.name,
            "kind": layer.kind.value,
            "vertices": int(shapely.get_num_coordinates(geometry)),
        }
        features.append(_feature(geometry, properties))
    return {"type": "FeatureCollection", "features": features}


def cached_outline(hazard_id: str, sha256: str, read: Any) -> bytes:
    """The encoded outline of hazard ``hazard_id``, computed once from ``read()`` (its layer)."""
    key = (hazard_id, sha256)
    body = _OUTLINES.get(key)
    if body is None:
        body = _encode({**outline(read()), "hazard_id": hazard_id})
        _OUTLINES.put(key, body)
    return body
