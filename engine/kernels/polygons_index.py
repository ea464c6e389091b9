"""Construction of the grid index of :mod:`rahat.engine.kernels.polygons`.

:func:`build_polygon_index` checks the layer, flattens it into coordinate arrays, lays a
uniform grid over it and, in two passes of a numba kernel, finds the cells inside one polygon
and the *mixed* cells that edges cross, with the candidates and edges of each (see the
module docstring of :mod:`rahat.engine.kernels.polygons` for the cell codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rahat.geo.errors import GeometryError
from rahat.geo.jit import kernel

#: Largest grid (cells) an index may use: 4 bytes each.
_MAX_CELLS = 1 << 26


@dataclass(frozen=True, eq=False)
class PolygonIndex:
    """Grid index of a polygon layer for :func:`locate` (plain arrays; picklable).

    Attributes
    ----------
    geometries
        The indexed geometries (object array), used for the rare undecided points.
    rank
        Strength of each geometry (int64, distinct): the highest rank wins a point.
    x0, y0, dx, dy, nx, ny
        Grid origin (lower left), cell size and shape; cell ``(j, i)`` is ``j * nx + i``.
    cell_code
        Per cell (int32): polygon index, -1 for none, or ``-2 - k`` for mixed cell ``k``.
    mixed_best, mixed_ptr
        Per mixed cell: the strongest polygon covering the whole cell (or -1), and the CSR
        range of its candidates (strongest first).
    pair_poly, pair_rx, pair_ry, pair_inside, pair_edge_ptr
        Per candidate: polygon, reference point, whether the reference point is inside, and
        the CSR range of the candidate's edges in the cell.
    edge_vertex
        Edge start vertices (the edge runs from vertex ``v`` to ``v + 1``).
    xs, ys
        All ring vertices.
    """

    geometries: np.ndarray
    rank: np.ndarray
    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    cell_code: np.ndarray
    mixed_best: np.ndarray
    mixed_ptr: np.ndarray
    pair_poly: np.ndarray
    pair_rx: np.ndarray
    pair_ry: np.ndarray
    pair_inside: np.ndarray
    pair_edge_ptr: np.ndarray
    edge_vertex: np.ndarray
    xs: np.ndarray
    ys: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays (geometries excluded)."""
        return sum(
            v.nbytes
            for k, v in vars(self).items()
            if isinstance(v, np.ndarray) and k != "geometries"
        )


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@kernel
def _segment_may_touch_box(
    ax: float, ay: float, bx: float, by: float, x0: float, y0: float, x1: float, y1: float
) -> bool:
    """False only when segment ab certainly misses the box [x0, x1] x [y0, y1]."""
    if max(ax, bx) < x0 or min(ax, bx) > x1 or max(ay, by) < y0 or min(ay, by) > y1:
        return False
    ex = bx - ax
    ey = by - ay
    s0 = ex * (y0 - ay) - ey * (x0 - ax)
    s1 = ex * (y0 - ay) - ey * (x1 - ax)
    s2 = ex * (y1 - ay) - ey * (x0 - ax)
    s3 = ex * (y1 - ay) - ey * (x1 - ax)
    if s0 > 0 and s1 > 0 and s2 > 0 and s3 > 0:
        return False
    return not (s0 < 0 and s1 < 0 and s2 < 0 and s3 < 0)


@kernel
def _cell_span(lo: float, hi: float, origin: float, size: float, n: int) -> tuple[int, int]:
    """Cells (with one cell of slack each side) whose extent may overlap [lo, hi]."""
    i0 = math.floor((lo - origin) / size) - 1
    i1 = math.floor((hi - origin) / size) + 1
    return max(i0, 0), min(i1, n - 1)


@kernel
def _fill_interior(
    p: int,
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    ring0: int,
    ring1: int,
    x0: float,
    y0: float,
    dx: float,
    dy: float,
    nx: int,
    ny: int,
    stamp: np.ndarray,
    best: np.ndarray,
    rank: np.ndarray,
) -> None:
    """Mark cells inside polygon ``p`` that no edge of ``p`` touches (scanline at centres).

    Such a cell's centre is at least half a cell from ``p``'s boundary, so the float crossing
    abscissae cannot misorder it.
    """
    v0 = ring_off[ring0]
    v1 = ring_off[ring1]
    if v1 <= v0:
        return
    miny = ys[v0:v1].min()
    maxy = ys[v0:v1].max()
    j_lo, j_hi = _cell_span(miny, maxy, y0, dy, ny)
    nrow = j_hi - j_lo + 1
    if nrow <= 0:
        return
    offsets = np.zeros(nrow + 1, dtype=np.int64)
    cross = np.empty(0, dtype=np.float64)
    pos = np.empty(0, dtype=np.int64)
    for fill in range(2):
        if fill == 1:
            for j in range(nrow):
                offsets[j + 1] += offsets[j]
            cross = np.empty(offsets[nrow], dtype=np.float64)
            pos = offsets[:nrow].copy()
        for ring in range(ring0, ring1):
            for v in range(ring_off[ring], ring_off[ring + 1] - 1):
                ay = ys[v]
                by = ys[v + 1]
                if ay == by:
                    continue
                ja, jb = _cell_span(min(ay, by), max(ay, by), y0, dy, ny)
                for j in range(max(ja, j_lo), min(jb, j_hi) + 1):
                    yc = y0 + (j + 0.5) * dy
                    if (ay > yc) != (by > yc):
                        if fill == 0:
                            offsets[j - j_lo + 1] += 1
                        else:
                            ax = xs[v]
                            bx = xs[v + 1]
                            cross[pos[j - j_lo]] = ax + (yc - ay) * (bx - ax) / (by - ay)
                            pos[j - j_lo] += 1
    rank_p = rank[p]
    for jr in range(nrow):
        j = j_lo + jr
        row = np.sort(cross[offsets[jr] : offsets[jr + 1]])
        for k in range(0, row.shape[0] - 1, 2):
            xa = row[k]
            xb = row[k + 1]
            i_lo, i_hi = _cell_span(xa, xb, x0, dx, nx)
            for i in range(i_lo, i_hi + 1):
                xc = x0 + (i + 0.5) * dx
                if xc > xa and xc < xb:
                    cell = j * nx + i
                    if stamp[cell] != p:
                        b = best[cell]
                        if b < 0 or rank_p > rank[b]:
                            best[cell] = p


@kernel
def _build_pass(
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_ring_off: np.ndarray,
    rank: np.ndarray,
    x0: float,
    y0: float,
    dx: float,
    dy: float,
    nx: int,
    ny: int,
    eps: float,
    fill: bool,
    stamp: np.ndarray,
    pair_at: np.ndarray,
    best: np.ndarray,
    pair_cell: np.ndarray,
    pair_poly: np.ndarray,
    inc_pair: np.ndarray,
    inc_edge: np.ndarray,
) -> tuple[int, int]:
    """Find the (cell, polygon) pairs whose edges touch a cell, and the edges per pair.

    A cell "touches" an edge when the segment may meet the cell grown by ``eps`` on every
    side. With ``fill`` False only counts; with ``fill`` True writes the pairs, the incidences
    and the interior cells (``best``).
    """
    npairs = 0
    ninc = 0
    for p in range(poly_ring_off.shape[0] - 1):
        for ring in range(poly_ring_off[p], poly_ring_off[p + 1]):
            for v in range(ring_off[ring], ring_off[ring + 1] - 1):
                ax = xs[v]
                ay = ys[v]
                bx = xs[v + 1]
                by = ys[v + 1]
                if ax == bx and ay == by:
                    continue  # zero-length edge: its neighbours carry the boundary
                i0, i1 = _cell_span(min(ax, bx) - eps, max(ax, bx) + eps, x0, dx, nx)
                j0, j1 = _cell_span(min(ay, by) - eps, max(ay, by) + eps, y0, dy, ny)
                for j in range(j0, j1 + 1):
                    cy0 = y0 + j * dy - eps
                    cy1 = y0 + (j + 1) * dy + eps
                    for i in range(i0, i1 + 1):
                        cx0 = x0 + i * dx - eps
                        cx1 = x0 + (i + 1) * dx + eps
                        if not _segment_may_touch_box(ax, ay, bx, by, cx0, cy0, cx1, cy1):
                            continue
                        cell = j * nx + i
                        if stamp[cell] != p:
                            stamp[cell] = p
                            if fill:
                                pair_at[cell] = npairs
                                pair_cell[npairs] = cell
                                pair_poly[npairs] = p
                            npairs += 1
                        if fill:
                            inc_pair[ninc] = pair_at[cell]
                            inc_edge[ninc] = v
                        ninc += 1
        if fill:
            _fill_interior(
                p,
                xs,
                ys,
                ring_off,
                poly_ring_off[p],
                poly_ring_off[p + 1],
                x0,
                y0,
                dx,
                dy,
                nx,
                ny,
                stamp,
                best,
                rank,
            )
    return npairs, ninc


# --------------------------------------------------------------------------------------------
# Python steps
# --------------------------------------------------------------------------------------------


def flatten_polygons(
    geometries: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flatten polygons and multipolygons into coordinate arrays.

    Parameters
    ----------
    geometries
        Sequence of shapely Polygon / MultiPolygon (None or empty allowed).

    Returns
    -------
    xs, ys : numpy.ndarray
        float64 vertices of all rings, each ring closed (first vertex repeated last).
    ring_offsets : numpy.ndarray
        int64, ``n_rings + 1``: ring ``r`` is ``xs[ring_offsets[r]:ring_offsets[r + 1]]``.
    polygon_ring_offsets : numpy.ndarray
        int64, ``n_geometries + 1``: the rings (shells and holes of all parts) of geometry
        ``g`` are ``polygon_ring_offsets[g]`` to ``polygon_ring_offsets[g + 1]``.
    """
    import shapely

    geoms = np.asarray(geometries, dtype=object).reshape(-1)
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    ring_sizes = np.bincount(coord_ring, minlength=len(rings)).astype(np.int64)
    ring_offsets = np.concatenate([[0], np.cumsum(ring_sizes)]).astype(np.int64)
    rings_per_geom = np.bincount(part_geom[ring_part], minlength=len(geoms)).astype(np.int64)
    polygon_ring_offsets = np.concatenate([[0], np.cumsum(rings_per_geom)]).astype(np.int64)
    xs = np.ascontiguousarray(coords[:, 0], dtype=np.float64)
    ys = np.ascontiguousarray(coords[:, 1], dtype=np.float64)
    return xs, ys, ring_offsets, polygon_ring_offsets


def _checked_geometries(geometries: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the layer and split it into polygonal components.

    Returns the geometries, the components (the geometry itself for Polygon / MultiPolygon,
    each part for a GeometryCollection of polygons, whose parts may overlap) and the geometry
    of each component.
    """
    import shapely

    geoms = np.asarray(geometries, dtype=object).reshape(-1)
    present = np.array([g is not None for g in geoms], dtype=bool)
    type_id = shapely.get_type_id(geoms)
    collection = np.flatnonzero(type_id == 7)
    parts, part_of = shapely.get_parts(geoms[collection], return_index=True)
    wrong = present & ~np.isin(type_id, (3, 6, 7)) & ~shapely.is_empty(geoms)
    bad_parts = ~np.isin(shapely.get_type_id(parts), (3, 6))
    if bad_parts.any():
        wrong[collection[part_of[bad_parts]]] = True
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise GeometryError(
            f"geometry {i} ({geoms[i].geom_type}) is not polygonal; point-in-polygon needs "
            "Polygon or MultiPolygon geometries (keep only the polygonal parts)"
        )
    simple = np.flatnonzero(type_id != 7)
    components = np.concatenate([geoms[simple], parts]).astype(object)
    component_geometry = np.concatenate([simple, collection[part_of]]).astype(np.int64)
    invalid = np.array([c is not None for c in components], dtype=bool)
    invalid &= ~shapely.is_valid(components)
    if invalid.any():
        bad = np.unique(component_geometry[invalid])
        raise GeometryError(
            f"{bad.size} geometries are invalid (first: {bad[:5].tolist()}); repair them with "
            "shapely.make_valid and keep the polygonal parts"
        )
    return geoms, components, component_geometry


def _ranks(priority: Any, n: int) -> np.ndarray:
    prio = np.zeros(n) if priority is None else np.asarray(priority, dtype=np.float64)
    if prio.shape != (n,):
        raise ValueError(f"priority must have one value per geometry ({n}), got {prio.shape}")
    if np.isnan(prio).any():
        raise ValueError("priority must not contain NaN")
    order = np.lexsort((-np.arange(n), prio))  # weakest first
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return rank


def _reference_points(
    geoms: np.ndarray, polys: np.ndarray, cells: np.ndarray, grid: tuple[float, ...], nx: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A point in each cell that is not on its polygon's boundary, and whether it is inside."""
    import shapely

    x0, y0, dx, dy = grid
    ci = (cells % nx).astype(np.float64)
    cj = (cells // nx).astype(np.float64)
    rx = np.empty(len(cells))
    ry = np.empty(len(cells))
    inside = np.zeros(len(cells), dtype=np.uint8)
    todo = np.arange(len(cells))
    shapely.prepare(geoms[np.unique(polys)])
    # Centre first, then points spread over the cell (R2 low-discrepancy sequence).
    for attempt in range(64):
        fx = 0.5 if attempt == 0 else (0.5 + attempt * 0.7548776662466927) % 1.0
        fy = 0.5 if attempt == 0 else (0.5 + attempt * 0.5698402909980532) % 1.0
        tx = x0 + (ci[todo] + fx) * dx
        ty = y0 + (cj[todo] + fy) * dy
        g = geoms[polys[todo]]
        contains = shapely.contains_xy(g, tx, ty)
        ok = contains | ~shapely.intersects_xy(g, tx, ty)
        sel = todo[ok]
        rx[sel] = tx[ok]
        ry[sel] = ty[ok]
        inside[sel] = contains[ok]
        todo = todo[~ok]
        if todo.size == 0:
            return rx, ry, inside
    raise RuntimeError("could not place reference points off the polygon boundaries")


def _default_cell_size(width: float, height: float, n_vertices: int) -> float:
    target = min(max(16 * n_vertices, 1 << 12), 1 << 22)
    size = math.sqrt(max(width * height, 1e-300) / target)
    return max(size, width / 4096, height / 4096, 1e-300)


#: The grid over a layer: origin ``x0, y0`` (lower left), cell size ``dx, dy`` and shape.
_Grid = tuple[float, float, float, float, int, int]


def _grid(xs: np.ndarray, ys: np.ndarray, cell_size: float | None) -> tuple[_Grid, float]:
    """Lay the grid over the vertices ``xs``, ``ys``; return it and the edge slack ``eps``."""
    if xs.size:
        minx, maxx, miny, maxy = xs.min(), xs.max(), ys.min(), ys.max()
    else:
        minx = maxx = miny = maxy = 0.0
    if not all(map(math.isfinite, (minx, maxx, miny, maxy))):
        raise GeometryError("polygon coordinates must be finite")
    width = float(maxx - minx)
    height = float(maxy - miny)
    if cell_size is None:
        cell_size = _default_cell_size(width, height, xs.size)
    elif not cell_size > 0:
        raise ValueError(f"cell_size must be > 0, got {cell_size}")
    scale = max(abs(minx), abs(maxx), abs(miny), abs(maxy), width, height)
    # Slack far above float64 rounding of the coordinates, far below a cell.
    eps = max(1e-6 * cell_size, 1e-12 * scale, 1e-300)
    dx = dy = float(cell_size)
    x0 = float(minx - 4 * eps)
    y0 = float(miny - 4 * eps)
    nx = math.floor((maxx + 4 * eps - x0) / dx) + 1
    ny = math.floor((maxy + 4 * eps - y0) / dy) + 1
    if nx * ny > _MAX_CELLS:
        raise ValueError(f"cell_size {cell_size} gives {nx} x {ny} cells; use a larger one")
    return (x0, y0, dx, dy, nx, ny), eps


def _touching_pairs(
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_ring_off: np.ndarray,
    rank: np.ndarray,
    grid: _Grid,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run :func:`_build_pass` twice (count, then fill).

    Returns ``best`` (the strongest polygon covering each whole cell, or -1), the
    (cell, polygon) pairs whose edges touch a cell, and per incidence its pair and edge.
    """
    ncell = grid[4] * grid[5]
    stamp = np.full(ncell, -1, dtype=np.int64)
    pair_at = np.empty(0, dtype=np.int64)
    best = np.full(ncell, -1, dtype=np.int32)
    i64 = np.empty(0, dtype=np.int64)
    i32 = np.empty(0, dtype=np.int32)
    npairs, ninc = _build_pass(
        xs, ys, ring_off, poly_ring_off, rank, *grid, eps, False,
        stamp, pair_at, best, i64, i32, i64, i64,
    )  # fmt: skip
    stamp[:] = -1
    pair_at = np.empty(ncell, dtype=np.int64)
    pair_cell = np.empty(npairs, dtype=np.int64)
    pair_poly = np.empty(npairs, dtype=np.int32)
    inc_pair = np.empty(ninc, dtype=np.int64)
    inc_edge = np.empty(ninc, dtype=np.int64)
    _build_pass(
        xs, ys, ring_off, poly_ring_off, rank, *grid, eps, True,
        stamp, pair_at, best, pair_cell, pair_poly, inc_pair, inc_edge,
    )  # fmt: skip
    return best, pair_cell, pair_poly, inc_pair, inc_edge


def _candidates(
    rank: np.ndarray,
    best: np.ndarray,
    pair_cell: np.ndarray,
    pair_poly: np.ndarray,
    inc_pair: np.ndarray,
    inc_edge: np.ndarray,
    n_vertices: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the pairs that could beat the cell's covering polygon, ordered by cell, strongest first.

    Returns the kept pairs' cells and polygons, and their edges as CSR (``edge_vertex``,
    ``pair_edge_ptr``).
    """
    # A candidate only matters when it could beat the polygon covering the whole cell.
    rank_or_none = np.concatenate([rank, [-1]])  # index -1 -> rank -1
    cover_rank = rank_or_none[best[pair_cell]]
    keep = np.flatnonzero(rank[pair_poly] > cover_rank)
    keep = keep[np.lexsort((-rank[pair_poly[keep]], pair_cell[keep]))]
    new_id = np.full(pair_cell.size, -1, dtype=np.int64)
    new_id[keep] = np.arange(keep.size)

    inc_new = new_id[inc_pair]
    inc_keep = inc_new >= 0
    inc_new = inc_new[inc_keep]
    order = np.argsort(inc_new, kind="stable")
    vertex_dtype = np.int32 if n_vertices < 2**31 else np.int64
    edge_vertex = inc_edge[inc_keep][order].astype(vertex_dtype)
    pair_edge_ptr = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(inc_new, minlength=keep.size), out=pair_edge_ptr[1:])
    return pair_cell[keep], pair_poly[keep], edge_vertex, pair_edge_ptr


def _cell_codes(best: np.ndarray, k_cell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code the cells, in place of ``best`` (see the module docstring of ``polygons``).

    Returns the cell codes and, per mixed cell, its best covering polygon and the CSR range
    of its candidates.
    """
    mixed_cells, first = np.unique(k_cell, return_index=True)
    mixed_ptr = np.append(first, k_cell.size).astype(np.int64)
    mixed_best = best[mixed_cells].astype(np.int32)
    cell_code = best
    cell_code[mixed_cells] = (-2 - np.arange(mixed_cells.size)).astype(np.int32)
    return cell_code, mixed_best, mixed_ptr


def build_polygon_index(
    geometries: Any, priority: Any = None, cell_size: float | None = None
) -> PolygonIndex:
    """Build the grid index of a polygon layer.

    Parameters
    ----------
    geometries
        Sequence (or object array, or GeoSeries) of valid shapely Polygon / MultiPolygon
        geometries, holes allowed, or GeometryCollections of such (their parts may overlap);
        None and empty geometries never match. Apply :func:`shapely.make_valid` first where
        needed and keep the polygonal parts.
    priority
        One number per geometry. Where polygons overlap (or share an edge) the one with the
        highest priority wins a point, ties go to the lowest index. Default: all equal, so the
        lowest index wins.
    cell_size
        Grid cell size in the layer's units. Default: about 16 cells per vertex, at most
        4 M cells (0.012 degrees for the 156 districts of Pakistan).

    Returns
    -------
    PolygonIndex

    Raises
    ------
    rahat.geo.errors.GeometryError
        If a geometry is not polygonal or is invalid.
    """
    geoms, components, component_geometry = _checked_geometries(geometries)
    # The kernels work on components (a GeometryCollection's parts may overlap, so each part
    # gets its own parity); every component carries its geometry's rank and reports its
    # geometry's index.
    geometry_rank = _ranks(priority, len(geoms))
    rank = geometry_rank[component_geometry]
    xs, ys, ring_off, poly_ring_off = flatten_polygons(components)
    grid, eps = _grid(xs, ys, cell_size)
    x0, y0, dx, dy, nx, ny = grid
    best, pair_cell, pair_poly, inc_pair, inc_edge = _touching_pairs(
        xs, ys, ring_off, poly_ring_off, rank, grid, eps
    )
    k_cell, k_poly, edge_vertex, pair_edge_ptr = _candidates(
        rank, best, pair_cell, pair_poly, inc_pair, inc_edge, xs.size
    )
    cell_code, mixed_best, mixed_ptr = _cell_codes(best, k_cell)
    rx, ry, inside = _reference_points(components, k_poly, k_cell, (x0, y0, dx, dy), nx)
    to_geometry = np.append(component_geometry, -1).astype(np.int32)  # component -1 -> -1
    covered = cell_code >= 0
    cell_code[covered] = to_geometry[cell_code[covered]]
    return PolygonIndex(
        geometries=geoms,
        rank=geometry_rank,
        x0=x0,
        y0=y0,
        dx=dx,
        dy=dy,
        nx=nx,
        ny=ny,
        cell_code=cell_code,
        mixed_best=to_geometry[mixed_best],
        mixed_ptr=mixed_ptr,
        pair_poly=to_geometry[k_poly],
        pair_rx=rx,
        pair_ry=ry,
        pair_inside=inside,
        pair_edge_ptr=pair_edge_ptr,
        edge_vertex=edge_vertex,
        xs=xs,
        ys=ys,
    )
