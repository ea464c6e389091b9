"""Point-in-polygon for polygon layers through a uniform grid index, exact as shapely.

:func:`build_polygon_index` flattens the polygons (holes and multipolygons included) into
coordinate arrays and lays a uniform grid over the layer. Every grid cell gets a code:

* ``p >= 0``: the cell lies inside polygon ``p`` (the winner, see below) and no edge of a
  polygon that could beat ``p`` comes near it, so every point in it answers ``p`` at once;
* ``-1``: no polygon covers any part of the cell;
* ``<= -2``: a *mixed* cell that edges cross. It keeps the candidate polygons whose edges touch
  it (strongest first), and for each the edges touching the cell and a reference point of known
  status. A point in the cell is inside a candidate when the reference point is and the segment
  between them crosses an even number of the candidate's edges.

The segment crossings use an orientation predicate evaluated in float64 with Shewchuk's error
bound. When a sign is not certain, or the point lies exactly on an edge or a vertex, the kernel
answers "undecided" and :func:`locate` settles those few points with
:func:`shapely.intersects_xy` on the cell's candidates. Every decided answer is exact, so the
result equals shapely's by construction (boundary points count as inside, as in
``intersects``).

Overlapping polygons (footprint classes, or a point on the shared edge of two districts) are
resolved by one rule: the polygon with the highest ``priority`` wins, ties go to the lowest
polygon index.

The index is built in :mod:`rahat.engine.kernels.polygons_index`; this module queries it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rahat.engine.kernels.polygons_index import PolygonIndex, build_polygon_index, flatten_polygons
from rahat.geo.jit import kernel, parallel_kernel, prange

__all__ = ["PolygonIndex", "build_polygon_index", "flatten_polygons", "locate"]

#: Shewchuk's ``ccwerrboundA`` = (3 + 16 eps) eps with eps = 2**-53.
_ORIENT_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53

_UNDECIDED = -2


@kernel
def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> int:
    """Sign of the turn a -> b -> c: 1 left, -1 right, 0 collinear or not certain in float64."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    bound = _ORIENT_ERRBOUND * (abs(detleft) + abs(detright))
    if det > bound:
        return 1
    if -det > bound:
        return -1
    return 0


# --------------------------------------------------------------------------------------------
# Query
# --------------------------------------------------------------------------------------------


@kernel
def _inside_candidate(
    px: float,
    py: float,
    j: int,
    pair_rx: np.ndarray,
    pair_ry: np.ndarray,
    pair_inside: np.ndarray,
    pair_edge_ptr: np.ndarray,
    edge_vertex: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
) -> int:
    """1 if the point is inside candidate ``j``, 0 if outside, 2 if undecided."""
    rx = pair_rx[j]
    ry = pair_ry[j]
    sx0 = min(px, rx)
    sx1 = max(px, rx)
    sy0 = min(py, ry)
    sy1 = max(py, ry)
    parity = pair_inside[j]
    for t in range(pair_edge_ptr[j], pair_edge_ptr[j + 1]):
        v = edge_vertex[t]
        ax = xs[v]
        ay = ys[v]
        bx = xs[v + 1]
        by = ys[v + 1]
        if max(ax, bx) < sx0 or min(ax, bx) > sx1 or max(ay, by) < sy0 or min(ay, by) > sy1:
            continue
        o_p = _orient(ax, ay, bx, by, px, py)
        if o_p == 0:
            return 2  # on the edge (or its line), or too close to call
        o_r = _orient(ax, ay, bx, by, rx, ry)
        if o_r == 0:
            return 2
        if o_p == o_r:
            continue
        o_a = _orient(px, py, rx, ry, ax, ay)
        o_b = _orient(px, py, rx, ry, bx, by)
        if o_a == 0 or o_b == 0:
            return 2
        if o_a != o_b:
            parity ^= 1
    return parity


@parallel_kernel
def _locate_kernel(
    x: np.ndarray,
    y: np.ndarray,
    x0: float,
    y0: float,
    inv_dx: float,
    inv_dy: float,
    nx: int,
    ny: int,
    cell_code: np.ndarray,
    mixed_best: np.ndarray,
    mixed_ptr: np.ndarray,
    pair_poly: np.ndarray,
    pair_rx: np.ndarray,
    pair_ry: np.ndarray,
    pair_inside: np.ndarray,
    pair_edge_ptr: np.ndarray,
    edge_vertex: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    out: np.ndarray,
) -> None:
    fnx = float(nx)
    fny = float(ny)
    for n in prange(x.shape[0]):
        px = x[n]
        py = y[n]
        fx = (px - x0) * inv_dx
        fy = (py - y0) * inv_dy
        # False for NaN: such points are outside every polygon, as in shapely.
        if not (fx >= 0.0 and fx < fnx and fy >= 0.0 and fy < fny):
            out[n] = -1
            continue
        code = cell_code[int(fy) * nx + int(fx)]
        if code >= -1:
            out[n] = code
            continue
        k = -2 - code
        result = mixed_best[k]
        for j in range(mixed_ptr[k], mixed_ptr[k + 1]):
            state = _inside_candidate(
                px, py, j, pair_rx, pair_ry, pair_inside, pair_edge_ptr, edge_vertex, xs, ys
            )
            if state == 1:
                result = pair_poly[j]
                break
            if state == 2:
                result = _UNDECIDED
                break
        out[n] = result


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _resolve(px: np.ndarray, py: np.ndarray, index: PolygonIndex) -> np.ndarray:
    """Answer undecided points with shapely, over the candidates of their cell."""
    import shapely

    ix = ((px - index.x0) * (1.0 / index.dx)).astype(np.int64)
    iy = ((py - index.y0) * (1.0 / index.dy)).astype(np.int64)
    k = -2 - index.cell_code[iy * index.nx + ix].astype(np.int64)
    start = index.mixed_ptr[k]
    counts = index.mixed_ptr[k + 1] - start
    point = np.repeat(np.arange(px.size), counts)
    pair = np.arange(point.size) - np.repeat(np.cumsum(counts) - counts, counts) + start[point]
    poly = index.pair_poly[pair]
    shapely.prepare(index.geometries[np.unique(poly)])  # O(log n) per point instead of O(n)
    hit = shapely.intersects_xy(index.geometries[poly], px[point], py[point])
    result = index.mixed_best[k].copy()
    # Candidates are strongest first: the first hit of each point wins.
    hit_points, first = np.unique(point[hit], return_index=True)
    result[hit_points] = poly[hit][first]
    return result


def locate(x: Any, y: Any, index: PolygonIndex) -> np.ndarray:
    """Index of the polygon each point falls in (boundary included), -1 where none.

    Equals :func:`shapely.intersects_xy` tested against every polygon, with overlaps settled by
    the index's rule: highest ``priority`` wins, ties go to the lowest polygon index. NaN
    coordinates give -1.

    Parameters
    ----------
    x, y
        Point coordinates in the layer's CRS (broadcast together; any shape).
    index
        From :func:`build_polygon_index`.

    Returns
    -------
    numpy.ndarray
        int32 polygon indices, shape of the broadcast points.
    """
    xa, ya = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    shape = xa.shape
    px = np.ascontiguousarray(xa).ravel()
    py = np.ascontiguousarray(ya).ravel()
    out = np.empty(px.size, dtype=np.int32)
    _locate_kernel(
        px,
        py,
        index.x0,
        index.y0,
        1.0 / index.dx,
        1.0 / index.dy,
        index.nx,
        index.ny,
        index.cell_code,
        index.mixed_best,
        index.mixed_ptr,
        index.pair_poly,
        index.pair_rx,
        index.pair_ry,
        index.pair_inside,
        index.pair_edge_ptr,
        index.edge_vertex,
        index.xs,
        index.ys,
        out,
    )
    undecided = np.flatnonzero(out == _UNDECIDED)
    if undecided.size:
        out[undecided] = _resolve(px[undecided], py[undecided], index)
    return out.reshape(shape)
