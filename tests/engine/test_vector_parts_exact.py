"""Footprint parts given to the polygon index unioned-not: households equal shapely's, exactly.

Issue 12: a repaired footprint is no longer unioned; its valid parts (which may overlap or touch)
go to the polygon index as they are. Because the index counts boundary points as inside, "in any
part" is "in the union", and overlapping features of different intensity still resolve to the
highest one. These tests compare every household with the reference a GIS analyst would write
(``make_valid`` + ``union_all`` per feature, ``shapely.intersects_xy``, highest value wins), with
zero tolerance, on fresh and on stored layers.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from testkit import count_calls

from rahat.engine.overlay import sample_hazard
from rahat.geo.hazards import prepared, read_hazard
from rahat.geo.hazards import vector as vector_mod
from rahat.geo.hazards.synthetic_footprint import write_complex_footprint

#: Binary-fraction unit (degrees) so shared edges and on-edge points are exact in float64.
U = 1.0 / 256
X0, Y0 = 68.0, 25.0


def _ring(*xy: tuple[float, float]) -> list[list[float]]:
    return [[X0 + x * U, Y0 + y * U] for x, y in (*xy, xy[0])]


def _box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return _ring((x0, y0), (x1, y0), (x1, y1), (x0, y1))


#: (geometry, level): bow-tie, hole, touching parts, overlapping parts of one feature,
#: an overlap between features of different levels, a hole outside its shell.
NASTY = [
    ({"type": "Polygon", "coordinates": [_ring((0, 0), (4, 4), (4, 0), (0, 4))]}, 1.0),
    ({"type": "Polygon", "coordinates": [_box(6, 0, 14, 8), _box(8, 2, 12, 6)]}, 2.0),
    (
        {
            "type": "MultiPolygon",
            "coordinates": [[_box(0, 10, 4, 14)], [_box(4, 10, 8, 14)], [_box(6, 12, 10, 16)]],
        },
        1.0,
    ),
    ({"type": "Polygon", "coordinates": [_box(10, 4, 16, 12)]}, 3.0),
    ({"type": "Polygon", "coordinates": [_box(0, 18, 4, 22), _box(5, 18, 7, 20)]}, 1.0),
]


def _nasty_file(folder: Path) -> Path:
    features = [
        {"type": "Feature", "properties": {"level": level}, "geometry": geom}
        for geom, level in NASTY
    ]
    path = folder / "nasty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _reference(
    geoms: np.ndarray, levels: np.ndarray, lon: np.ndarray, lat: np.ndarray, *, union: bool
) -> np.ndarray:
    """Highest level of the features a point intersects, the way a GIS analyst checks it.

    ``union=True``: each feature is ``union_all(make_valid(feature))``. ``union=False``: each
    polygon part of a feature is repaired alone and a point is in the feature when it is in
    any repaired part (prepared parts, bounding boxes first).
    """
    out = np.full(len(lon), np.nan)
    for geom, level in zip(geoms, levels, strict=True):
        if union:
            pieces = [shapely.union_all(shapely.make_valid(geom, method="structure"))]
        else:
            pieces = shapely.make_valid(shapely.get_parts(geom), method="structure")
        for piece in pieces:
            x0, y0, x1, y1 = shapely.bounds(piece)
            near = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
            shapely.prepare(piece)
            hit = near[shapely.intersects_xy(piece, lon[near], lat[near])]
            out[hit] = np.fmax(out[hit], level)
    return out


def _edge_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The midpoint of every edge of the raw geometries (on the edge up to rounding)."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    xs, ys = [], []
    for ring in rings:
        c = shapely.get_coordinates(ring)
        xs.append((c[:-1, 0] + c[1:, 0]) / 2)
        ys.append((c[:-1, 1] + c[1:, 1]) / 2)
    return np.concatenate(xs), np.concatenate(ys)


def _same(ours: np.ndarray, reference: np.ndarray) -> None:
    differ = np.flatnonzero(~((ours == reference) | (np.isnan(ours) & np.isnan(reference))))
    assert differ.size == 0, f"{differ.size} households differ, first {differ[:5]}"


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hazards" / "prepared"


def _stored_read(monkeypatch, path: Path, **kwargs):
    """Read ``path`` from the store (fails if the file itself is read again)."""

    def refuse(*args, **kw):
        raise AssertionError("read the file instead of the stored layer")

    with monkeypatch.context() as mp:
        mp.setattr(vector_mod, "_read_frame", refuse)
        return read_hazard(path, **kwargs)


def test_nasty_cases_equal_the_union_reference(tmp_path, store, monkeypatch) -> None:
    monkeypatch.setattr(prepared, "MIN_STORED_VERTICES", 0)  # store even this small file
    path = _nasty_file(tmp_path)
    geoms = np.array([shapely.from_geojson(json.dumps(g)) for g, _ in NASTY], dtype=object)
    levels = np.array([level for _, level in NASTY])
    # a lattice at a quarter unit (on edges, vertices, hole boundaries, shared edges) plus
    # every vertex and edge midpoint
    grid = np.arange(-1, 24.25, 0.25) * U
    gx, gy = np.meshgrid(X0 + grid, Y0 + grid)
    vx, vy = shapely.get_coordinates(geoms).T
    ex, ey = _edge_points(geoms)
    lon, lat = np.r_[gx.ravel(), vx, ex], np.r_[gy.ravel(), vy, ey]
    expected = _reference(geoms, levels, lon, lat, union=True)
    _same(_reference(geoms, levels, lon, lat, union=False), expected)
    assert {1.0, 2.0, 3.0} <= set(expected[~np.isnan(expected)].tolist())
    fresh = read_hazard(path, kind="generic", intensity_field="level")
    assert any("repaired 3 invalid geometries" in w for w in fresh.warnings), fresh.warnings
    assert fresh.vector.geometry.iloc[2].geom_type == "GeometryCollection"  # not unioned
    _same(sample_hazard(fresh, lon, lat).intensity, expected)
    stored = _stored_read(monkeypatch, path, kind="generic", intensity_field="level")
    assert stored.warnings == fresh.warnings
    _same(sample_hazard(stored, lon, lat).intensity, expected)


@pytest.mark.parametrize("fmt", ["shapefile_zip", "geojson"])
def test_complex_footprint_equals_the_union_reference_without_union(
    tmp_path, store, monkeypatch, fmt
) -> None:
    files = write_complex_footprint(tmp_path, n_parts=400, seed=7)
    calls = count_calls(monkeypatch, shapely, ["make_valid", "union_all"])
    rng = np.random.default_rng(3)
    fresh = read_hazard(files[fmt], kind="flood_extent")
    west, south, east, north = fresh.bounds()
    raw = gpd.read_file(files[fmt]).geometry.to_numpy()  # as read, unrepaired
    vx, vy = shapely.get_coordinates(raw).T
    mx, my = _edge_points(raw)
    lon = np.r_[rng.uniform(west, east, 200_000), vx, mx]
    lat = np.r_[rng.uniform(south, north, 200_000), vy, my]
    ours = sample_hazard(fresh, lon, lat).intensity
    assert calls == {"make_valid": 1, "union_all": 0}
    monkeypatch.undo()
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(store.parent.parent))
    # Random households and every vertex: equal to the union of the repaired footprint.
    n_exact = 200_000 + len(vx)
    union = _reference(raw, np.array([1.0]), lon[:n_exact], lat[:n_exact], union=True)
    assert np.count_nonzero(~np.isnan(union)) > 10_000
    _same(ours[:n_exact], union)
    # Edge midpoints lie within float rounding of an edge, where union_all's noding moves the
    # boundary by ~1e-15 degrees; there the exact answer is the parts' own (as sent, repaired).
    expected = _reference(raw, np.array([1.0]), lon, lat, union=False)
    _same(ours, expected)
    stored = _stored_read(monkeypatch, files[fmt], kind="flood_extent")
    _same(sample_hazard(stored, lon, lat).intensity, expected)
