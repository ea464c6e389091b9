"""The polygon kernel at its edges: float64 rounding, and points on the grid's far sides.

The kernel trusts the sign of a float64 orientation only beyond Shewchuk's error bound and
leaves closer calls to shapely. The first points make the plain float64 sign wrong: they lie
exactly on a long edge (or one ulp off it) whose end points are large next to the point, so the
subtractions in the determinant round. The last ones fall exactly on the far sides of the grid,
one past its last column or row.
"""

from __future__ import annotations

import numpy as np
import shapely

from rahat.engine.kernels.polygons import build_polygon_index, locate

#: An edge on the line y = 3x, far longer than the coordinates of the points near its middle.
EDGE_A = (-1000.25, -3000.75)
EDGE_B = (7000.0, 21000.0)


def naive_orientation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The orientation determinant of (A, B, point) in plain float64, as the kernel computes it."""
    (ax, ay), (bx, by) = EDGE_A, EDGE_B
    return (ax - x) * (by - y) - (ay - y) * (bx - x)


def points_on_the_edge(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points exactly on the edge: x with a 48-bit fraction, so that 3x is exact."""
    t = np.random.default_rng(0).uniform(0.1, 5.0, n)
    x = np.ldexp(np.round(np.ldexp(t, 48)), -48)
    y = 3.0 * x
    assert np.array_equal(y / 3.0, x)
    return x, y


def test_points_on_and_one_ulp_off_a_long_edge_match_shapely() -> None:
    x, y = points_on_the_edge(2_000)
    # The exact orientation of every one of them is 0; float64 gives a sign to many.
    assert np.count_nonzero(naive_orientation(x, y) < 0) > 100
    assert np.count_nonzero(naive_orientation(x, y) > 0) > 100
    xs = np.concatenate([x, x, x])
    ys = np.concatenate([y, np.nextafter(y, np.inf), np.nextafter(y, -np.inf)])
    # The triangle lies left of A -> B: above the line is inside, the edge itself counts.
    triangle = shapely.Polygon([EDGE_A, EDGE_B, (EDGE_A[0], EDGE_B[1])])
    index = build_polygon_index(np.array([triangle], dtype=object))
    expected = np.where(shapely.intersects_xy(triangle, xs, ys), 0, -1).astype(np.int32)
    assert (expected[: x.size] == 0).all()
    assert (expected[x.size : 2 * x.size] == 0).all()
    assert (expected[2 * x.size :] == -1).all()
    np.testing.assert_array_equal(locate(xs, ys, index), expected)


def test_two_polygons_sharing_the_long_edge_give_it_to_the_lower_index() -> None:
    x, y = points_on_the_edge(500)
    above = shapely.Polygon([EDGE_A, EDGE_B, (EDGE_A[0], EDGE_B[1])])
    below = shapely.Polygon([EDGE_A, (EDGE_B[0], EDGE_A[1]), EDGE_B])
    index = build_polygon_index(np.array([below, above], dtype=object))
    np.testing.assert_array_equal(locate(x, y, index), np.zeros(x.size, np.int32))
    swapped = build_polygon_index(np.array([above, below], dtype=object))
    np.testing.assert_array_equal(locate(x, y, swapped), np.zeros(x.size, np.int32))


def on_far_side(origin: float, step: float, n: int) -> float:
    """The lowest coordinate whose grid position, as the kernel computes it, is exactly ``n``."""
    start = origin + n * step
    below = above = start
    near = [start]
    for _ in range(300):
        below, above = np.nextafter(below, -np.inf), np.nextafter(above, np.inf)
        near += [below, above]
    hits = [v for v in near if (v - origin) * (1.0 / step) == float(n)]
    assert hits, "no coordinate lands exactly on the far side"
    return float(min(hits))


def test_points_exactly_on_the_far_sides_of_the_grid_are_outside() -> None:
    square = shapely.box(0.3, 0.7, 10.1, 5.9)
    triangle = shapely.Polygon([(10.1, 0.7), (10.1, 5.9), (20.0, 3.0)])
    geoms = np.array([square, triangle], dtype=object)
    index = build_polygon_index(geoms, cell_size=0.25)
    right = on_far_side(index.x0, index.dx, index.nx)
    top = on_far_side(index.y0, index.dy, index.ny)
    rows = index.y0 + (np.arange(index.ny) + 0.5) * index.dy
    cols = index.x0 + (np.arange(index.nx) + 0.5) * index.dx
    x = np.concatenate([np.full(index.ny, right), cols, [right]])
    y = np.concatenate([rows, np.full(index.nx, top), [top]])
    assert not shapely.intersects_xy(geoms[:, None], x, y).any()
    np.testing.assert_array_equal(locate(x, y, index), np.full(x.size, -1, np.int32))
