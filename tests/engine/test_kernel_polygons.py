"""Point-in-polygon kernel: zero-tolerance equality with shapely.intersects_xy and sjoin."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rahat.engine.kernels.polygons import (
    PolygonIndex,
    build_polygon_index,
    flatten_polygons,
    locate,
)
from rahat.geo.errors import GeometryError

#: NUMBA_DISABLE_JIT=1 runs the kernels as Python: smaller inputs.
PURE_PYTHON = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]

N_RANDOM = 5_000 if PURE_PYTHON else 200_000
N_ADVERSARIAL = 3_000 if PURE_PYTHON else 60_000


def reference_locate(
    geoms: np.ndarray, x: np.ndarray, y: np.ndarray, priority: np.ndarray | None = None
) -> np.ndarray:
    """shapely.intersects_xy on every (point, polygon) pair whose boxes meet, then the rule."""
    geoms = np.asarray(geoms, dtype=object)
    prio = np.zeros(len(geoms)) if priority is None else np.asarray(priority, dtype=float)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    result = np.full(x.size, -1, dtype=np.int64)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(shapely.points(x[finite], y[finite]))  # bounding boxes only
    pi = finite[pi]
    hit = shapely.intersects_xy(geoms[gi], x[pi], y[pi])
    pi, gi = pi[hit], gi[hit]
    order = np.lexsort((gi, -prio[gi], pi))  # per point: highest priority, then lowest index
    pi, gi = pi[order], gi[order]
    points, first = np.unique(pi, return_index=True)
    result[points] = gi[first]
    return result


def assert_same(got: np.ndarray, expected: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{bad.size} of {got.size} points differ, e.g. " + ", ".join(
        f"({x[i]!r}, {y[i]!r}): {got[i]} != {expected[i]}" for i in bad[:5]
    )


def boundary_points(geoms: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Adversarial points: vertices, edge midpoints, interpolated boundary points, 1-ulp nudges."""
    parts = shapely.get_parts(geoms)
    rings = shapely.get_rings(parts)
    coords, ring_id = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_id[1:] == ring_id[:-1]
    a, b = coords[:-1][same_ring], coords[1:][same_ring]
    mid = (a + b) / 2.0
    axis = (a[:, 0] == b[:, 0]) | (a[:, 1] == b[:, 1])
    on_line = shapely.get_coordinates(
        shapely.line_interpolate_point(
            rings[rng.integers(0, len(rings), n)], rng.random(n), normalized=True
        )
    )
    pick = coords[rng.integers(0, len(coords), n)]
    nudged = np.column_stack(
        [
            np.nextafter(pick[:, 0], np.where(rng.random(n) < 0.5, -np.inf, np.inf)),
            np.nextafter(pick[:, 1], np.where(rng.random(n) < 0.5, -np.inf, np.inf)),
        ]
    )
    sets = [coords, mid, mid[axis], on_line, nudged]
    sets = [s[rng.permutation(len(s))[:n]] for s in sets]
    return np.concatenate(sets)


def test_real_districts_random_and_adversarial_points(districts_any_crs: np.ndarray) -> None:
    geoms = districts_any_crs
    rng = np.random.default_rng(42)
    index = build_polygon_index(geoms)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pad = 0.05 * (maxx - minx)
    random = np.column_stack(
        [
            rng.uniform(minx - pad, maxx + pad, N_RANDOM),
            rng.uniform(miny - pad, maxy + pad, N_RANDOM),
        ]
    )
    # Points on the index's own grid lines and corners.
    cols = rng.integers(0, index.nx + 1, N_ADVERSARIAL)
    rows = rng.integers(0, index.ny + 1, N_ADVERSARIAL)
    gx = index.x0 + cols * index.dx
    gy = index.y0 + rows * index.dy
    along = rng.uniform(0, 1, N_ADVERSARIAL)
    grid = np.concatenate(
        [
            np.column_stack([gx, gy]),
            np.column_stack([gx, index.y0 + (rows + along) * index.dy]),
            np.column_stack([index.x0 + (cols + along) * index.dx, gy]),
        ]
    )
    pts = np.concatenate([random, boundary_points(geoms, N_ADVERSARIAL, rng), grid])
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    got = locate(x, y, index)
    assert got.dtype == np.int32
    assert_same(got, reference_locate(geoms, x, y), x, y)


def test_matches_geopandas_sjoin(districts_4326: np.ndarray) -> None:
    import geopandas as gpd

    geoms = districts_4326
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    n = N_RANDOM // 4
    pts = np.concatenate(
        [
            np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)]),
            boundary_points(geoms, n // 4, rng),
        ]
    )
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=4326)
    polys = gpd.GeoDataFrame(geometry=geoms, crs=4326)
    joined = gpd.sjoin(points, polys, predicate="intersects", how="left")
    expected = joined["index_right"].fillna(-1).astype(np.int64).groupby(level=0).min()
    got = locate(pts[:, 0], pts[:, 1], build_polygon_index(geoms))
    assert_same(got, expected.to_numpy(), pts[:, 0], pts[:, 1])


def test_real_climate_zones() -> None:
    from rahat.geo.boundaries import climate_zones

    zones = climate_zones()
    if PURE_PYTHON:
        zones = zones.clip(shapely.box(70.0, 30.0, 71.5, 31.0))
        zones = zones[zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    geoms = zones.geometry.to_numpy()
    rng = np.random.default_rng(9)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    pts = np.concatenate(
        [
            np.column_stack(
                [rng.uniform(minx, maxx, N_RANDOM // 2), rng.uniform(miny, maxy, N_RANDOM // 2)]
            ),
            boundary_points(geoms, N_ADVERSARIAL // 4, rng),
        ]
    )
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    priority = zones["zone_num"].to_numpy()  # e.g. the highest class wins on shared edges
    index = build_polygon_index(geoms, priority=priority)
    assert_same(locate(x, y, index), reference_locate(geoms, x, y, priority), x, y)


def test_geometry_collection_parts_may_overlap() -> None:
    collection = shapely.GeometryCollection(
        [shapely.box(0, 0, 4, 4), shapely.box(2, 2, 6, 6), shapely.box(3, 3, 5, 5)]
    )
    geoms = np.array([collection, shapely.box(1, 1, 7, 2)], dtype=object)
    index = build_polygon_index(geoms, priority=[0, 1], cell_size=0.8)
    q = np.arange(-2, 17) / 2.0
    x, y = (a.ravel() for a in np.meshgrid(q, q))
    got = locate(x, y, index)
    assert_same(got, reference_locate(geoms, x, y, np.array([0, 1])), x, y)
    assert locate([3.5, 1.5], [3.5, 1.5], index).tolist() == [0, 1]


@pytest.fixture(scope="module")
def layered() -> tuple[np.ndarray, np.ndarray]:
    """Holes, a multipolygon, overlapping footprint classes with priorities."""
    donut = shapely.Polygon(
        [(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (2, 5), (5, 5), (5, 2)]]
    )
    islands = shapely.MultiPolygon(
        [
            shapely.box(20, 0, 22, 2),
            shapely.Polygon(
                [(24, 0), (30, 0), (30, 6), (24, 6)], holes=[[(25, 1), (25, 3), (27, 3), (27, 1)]]
            ),
            shapely.box(25.5, 1.5, 26.5, 2.5),  # island inside the hole
        ]
    )
    low = shapely.box(4, 4, 26, 8)  # class 1, overlaps both
    high = shapely.Polygon([(6, 3), (9, 9), (3, 9)])  # class 3, diagonal edges
    also_high = shapely.box(8, 7, 12, 12)  # class 3 too: ties -> lower index
    geoms = np.array([donut, islands, low, high, also_high, None, shapely.Polygon()], dtype=object)
    priority = np.array([0, 0, 1, 3, 3, 9, 9])
    return geoms, priority


def test_holes_multipolygons_and_priorities(layered: tuple[np.ndarray, np.ndarray]) -> None:
    geoms, priority = layered
    index = build_polygon_index(geoms, priority=priority, cell_size=0.7)
    named = {
        (1.0, 1.0): 0,  # donut ring
        (3.0, 3.0): -1,  # in the hole
        (2.0, 3.0): 0,  # on the hole boundary
        (5.0, 5.0): 3,  # hole corner, inside `low`, on an edge of `high`
        (26.0, 2.0): 1,  # island in the hole of a part
        (25.2, 2.0): -1,  # hole of the part
        (25.0, 2.0): 1,  # hole boundary
        (6.0, 3.0): 3,  # vertex of `high`
        (8.5, 8.0): 3,  # in high, low and also_high: high has the lower index
        (11.0, 11.0): 4,
        (15.0, 6.0): 2,
        (40.0, 40.0): -1,
        (np.nan, 1.0): -1,
    }
    x = np.array([p[0] for p in named])
    y = np.array([p[1] for p in named])
    assert locate(x, y, index).tolist() == list(named.values())
    rng = np.random.default_rng(3)
    n = 20_000
    x = np.concatenate([rng.uniform(-1, 31, n), rng.integers(-1, 32, n) / 2.0])
    y = np.concatenate([rng.uniform(-1, 13, n), rng.integers(-1, 27, n) / 2.0])
    x = np.concatenate([x, boundary_points(geoms[:5], 2_000, rng)[:, 0]])
    y = np.concatenate([y, boundary_points(geoms[:5], 2_000, rng)[:, 1]])
    y = y[: x.size]
    assert_same(locate(x, y, index), reference_locate(geoms, x, y, priority), x, y)


@pytest.mark.parametrize("cell_size", [None, 1.0, 0.5, 3.0])
def test_edges_on_index_grid_lines(cell_size: float | None) -> None:
    """Lattice polygons whose edges run along the index grid, probed on the lattice."""
    geoms = np.array(
        [
            shapely.box(0, 0, 4, 3),
            shapely.box(4, 0, 8, 3),  # shares an edge with the first
            shapely.Polygon([(0, 3), (4, 7), (8, 3)]),
            shapely.box(1, 1, 2, 2),  # inside the first, higher priority
        ],
        dtype=object,
    )
    priority = np.array([0, 0, 0, 1])
    index = build_polygon_index(geoms, priority=priority, cell_size=cell_size)
    q = np.arange(-2, 21) / 2.0
    x, y = (a.ravel() for a in np.meshgrid(q, q))
    assert_same(locate(x, y, index), reference_locate(geoms, x, y, priority), x, y)


def test_shapes_and_empty_inputs(layered: tuple[np.ndarray, np.ndarray]) -> None:
    index = build_polygon_index(layered[0])
    assert locate(np.empty(0), np.empty(0), index).shape == (0,)
    got = locate(np.array([[1.0, 3.0], [8.5, 40.0]]), 1.0, index)
    assert got.shape == (2, 2)
    assert got.tolist() == [[0, 0], [0, -1]]
    empty_index = build_polygon_index([None, shapely.Polygon()])
    assert locate([0.0, np.inf], [0.0, 1.0], empty_index).tolist() == [-1, -1]


def test_flatten_polygons_offsets(layered: tuple[np.ndarray, np.ndarray]) -> None:
    xs, ys, ring_off, poly_ring_off = flatten_polygons(layered[0])
    assert poly_ring_off.tolist() == [0, 2, 6, 7, 8, 9, 9, 9]
    assert ring_off[-1] == xs.size == ys.size
    for r in range(ring_off.size - 1):  # closed rings
        start, stop = ring_off[r], ring_off[r + 1] - 1
        assert (xs[start], ys[start]) == (xs[stop], ys[stop])


def test_rejects_bad_geometries() -> None:
    with pytest.raises(GeometryError, match=r"LineString.*not polygonal"):
        build_polygon_index([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (1, 1)])])
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(GeometryError, match="make_valid"):
        build_polygon_index([bowtie])
    with pytest.raises(ValueError, match="priority"):
        build_polygon_index([shapely.box(0, 0, 1, 1)], priority=[1, 2])
    with pytest.raises(ValueError, match="cell_size"):
        build_polygon_index([shapely.box(0, 0, 1, 1)], cell_size=1e-9)


def test_index_is_plain_arrays(layered: tuple[np.ndarray, np.ndarray]) -> None:
    import pickle

    index = build_polygon_index(layered[0], priority=layered[1])
    again = pickle.loads(pickle.dumps(index))
    assert isinstance(again, PolygonIndex)
    x = np.linspace(-1, 31, 500)
    assert np.array_equal(locate(x, 2.0, again), locate(x, 2.0, index))
    assert index.nbytes > 0


# --- hypothesis ---------------------------------------------------------------------------

_lattice = st.integers(0, 8)


@st.composite
def _polygon(draw: st.DrawFn) -> shapely.Geometry:
    kind = draw(st.sampled_from(["box", "triangle", "holed", "multi"]))
    x0, y0 = draw(_lattice), draw(_lattice)
    w, h = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    if kind == "box":
        return shapely.box(x0, y0, x0 + w, y0 + h)
    if kind == "triangle":
        pts = draw(st.lists(st.tuples(_lattice, _lattice), min_size=3, max_size=3, unique=True))
        tri = shapely.Polygon(pts)
        return tri if tri.area > 0 else shapely.box(x0, y0, x0 + w, y0 + h)
    if kind == "holed":
        outer = shapely.box(x0, y0, x0 + w + 2, y0 + h + 2)
        return outer.difference(shapely.box(x0 + 1, y0 + 1, x0 + 1 + w / 2, y0 + 1 + h / 2))
    return shapely.MultiPolygon(
        [shapely.box(x0, y0, x0 + 1, y0 + 1), shapely.box(x0 + 2, y0 + 0.5, x0 + 3, y0 + h)]
    )


_coordinate = st.one_of(
    st.integers(-2, 34).map(lambda v: v / 4.0),
    st.floats(-1.0, 9.0, allow_nan=False),
    st.just(float("nan")),
)


@settings(
    max_examples=25 if PURE_PYTHON else 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    polygons=st.lists(_polygon(), min_size=1, max_size=4),
    priorities=st.lists(st.integers(0, 2), min_size=4, max_size=4),
    cell_size=st.sampled_from([None, 0.25, 1.0, 1.7]),
    points=st.lists(st.tuples(_coordinate, _coordinate), min_size=1, max_size=60),
    scale=st.sampled_from([1.0, 0.1, 1000.0]),
    shift=st.sampled_from([0.0, 60.9, 6.7e6]),
)
def test_hypothesis_matches_shapely(
    polygons: list[shapely.Geometry],
    priorities: list[int],
    cell_size: float | None,
    points: list[tuple[float, float]],
    scale: float,
    shift: float,
) -> None:
    geoms = np.array(
        [
            shapely.affinity.affine_transform(g, [scale, 0, 0, scale, shift, shift])
            for g in polygons
        ],
        dtype=object,
    )
    priority = np.array(priorities[: len(geoms)])
    pts = np.array(points, dtype=float) * scale + shift
    # Also every vertex of the layer.
    pts = np.concatenate([pts, shapely.get_coordinates(geoms)])
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    index = build_polygon_index(
        geoms, priority=priority, cell_size=None if cell_size is None else cell_size * scale
    )
    assert_same(locate(x, y, index), reference_locate(geoms, x, y, priority), x, y)
