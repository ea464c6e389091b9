"""Selected households of a run counted in square lon/lat cells, with small-cell suppression.

A cell of size ``c`` degrees has its south-west corner at ``(-180 + i c, -90 + j c)``. Every
size is a whole number of base cells of :data:`BASE_CELL` degrees, and a household's cell of size
``c`` is its base cell ``floor((lon + 180) / BASE_CELL)`` integer-divided by ``c / BASE_CELL``
(likewise for latitude), so the cells of two sizes nest exactly: a 0.5° cell is the union of
its 25 cells of 0.1°, whatever floating-point rounding does at the edges.

Only cell corners and counts leave the server; never a household id or coordinate. For callers
under the k threshold the four grids of a run are suppressed together
(:func:`suppress_grids`):

* primary: a cell with 1..k-1 selected households is dropped;
* complementary, against the national total the run summary publishes: the dropped cells add
  up to national − published, which must be 0 or at least k;
* complementary, across sizes: for every cell ``P`` of a coarser size that nests the finer
  cells (0.05 in 0.1, 0.25 and 0.5; 0.1 and 0.25 in 0.5), ``P`` minus its published finer
  cells must be at least k, or 0 only where ``P`` itself is published, so that neither a
  dropped finer cell nor a dropped coarser cell can be rebuilt from the other grid.

Complements are the smallest published cells of the offending group (each describes at least k
households, so one drop settles a group); this is repeated until no group offends. When the
run's national total is withheld from the caller no cell is published at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rahat.api.service.aggregates import published
from rahat.api.service.lru import LRUCache

#: Cell sizes (degrees) a grid may be asked for.
CELL_SIZES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5)
#: The finest cell; every size is a whole number of these.
BASE_CELL = 0.05
#: Base cells along a parallel (longitude) and a meridian (latitude), each edge included.
_NX = round(360 / BASE_CELL) + 1
_NY = round(180 / BASE_CELL) + 1
#: Most bins :func:`count_cells` counts with ``bincount`` before it sorts instead.
_MAX_BINS = 1 << 22

#: Grids by (run folder, caseload stamp, k).
_GRIDS: LRUCache[tuple[str, int, int | None], dict[float, Grid]] = LRUCache(64)


def _ratio(cell: float) -> int:
    """Base cells per side of a cell of ``cell`` degrees."""
    return round(cell / BASE_CELL)


@dataclass(frozen=True)
class Grid:
    """Counts of selected households per cell of one size.

    ``ix`` and ``iy`` number the cells from the west (-180°) and the south (-90°) edges;
    only cells holding at least one selected household are listed.
    """

    cell: float
    ix: np.ndarray
    iy: np.ndarray
    selected: np.ndarray

    def coarsen(self, cell: float) -> Grid:
        """The same households counted in cells of ``cell`` degrees (a multiple of this size)."""
        step = _ratio(cell) // _ratio(self.cell)
        return _grid(cell, self.ix // step, self.iy // step, self.selected)

    def rows(self, keep: np.ndarray) -> list[dict[str, Any]]:
        """The cells where ``keep`` holds, as ``{"lon", "lat", "selected"}`` (south-west corner)."""
        lon = np.round(-180.0 + self.ix[keep] * self.cell, 6)
        lat = np.round(-90.0 + self.iy[keep] * self.cell, 6)
        return [
            {"lon": float(x), "lat": float(y), "selected": int(n)}
            for x, y, n in zip(lon, lat, self.selected[keep], strict=True)
        ]


def _grid(cell: float, ix: np.ndarray, iy: np.ndarray, weights: np.ndarray | None) -> Grid:
    """Sum ``weights`` (ones when ``None``) per cell ``(ix, iy)``; cells sorted by ``(iy, ix)``."""
    if len(ix) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Grid(cell, empty, empty, empty)
    x0, y0 = int(ix.min()), int(iy.min())
    width = int(ix.max()) - x0 + 1
    height = int(iy.max()) - y0 + 1
    key = (iy - y0) * width + (ix - x0)
    if width * height <= max(_MAX_BINS, 4 * len(key)):
        counts = np.bincount(key, weights=weights, minlength=width * height)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, first = np.unique(key, return_inverse=True)
        counts = np.bincount(first, weights=weights, minlength=len(keys))
    return Grid(cell, keys % width + x0, keys // width + y0, counts.astype(np.int64))


def count_cells(lon: np.ndarray, lat: np.ndarray, selected: np.ndarray) -> Grid:
    """Count the selected households per base cell of :data:`BASE_CELL` degrees.

    Households without finite coordinates inside [-180, 180] x [-90, 90] are not counted.

    Parameters
    ----------
    lon, lat
        Coordinates in degrees (EPSG:4326), one per household.
    selected
        Whether each household is selected.

    Returns
    -------
    Grid
        The base cells holding selected households; no python loop per household.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    inside = np.asarray(selected, dtype=bool) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    ix = np.floor((lon[inside] + 180.0) / BASE_CELL).astype(np.int64)
    iy = np.floor((lat[inside] + 90.0) / BASE_CELL).astype(np.int64)
    np.clip(ix, 0, _NX - 1, out=ix)
    np.clip(iy, 0, _NY - 1, out=iy)
    return _grid(BASE_CELL, ix, iy, None)


def read_grid(caseload: Path) -> Grid:
    """The base-cell counts of a run's ``caseload.parquet`` (columns lon, lat, selected only)."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(caseload).names)
    if not {"lon", "lat", "selected"} <= names:
        return count_cells(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
    table = pq.read_table(caseload, columns=["lon", "lat", "selected"])
    lon = table.column("lon").to_numpy(zero_copy_only=False)
    lat = table.column("lat").to_numpy(zero_copy_only=False)
    chosen = table.column("selected").fill_null(False).to_numpy(zero_copy_only=False)
    return count_cells(lon.astype(np.float64), lat.astype(np.float64), chosen.astype(bool))


def _ancestors(cell: float) -> list[float]:
    """The coarser sizes whose cells are each a whole number of ``cell`` cells."""
    return [c for c in CELL_SIZES if c > cell and _ratio(c) % _ratio(cell) == 0]


def _settle(
    grid: Grid, keep: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int
) -> np.ndarray:
    """Drop the smallest published cell of each offending group until none offends.

    Each group is ``(group of each cell, total of each group, group published)``; a group
    offends when total − published cells is in 1..k-1, or 0 while the group is not published.
    """
    keep = keep.copy()
    counts = grid.selected
    while True:
        drop = np.zeros(len(counts), dtype=bool)
        for member, totals, shown in groups:
            kept = np.bincount(member, weights=counts * keep, minlength=len(totals))
            gap = totals - kept.astype(np.int64)
            has_kept = np.bincount(member, weights=keep, minlength=len(totals)) > 0
            bad = has_kept & (((gap > 0) & (gap < k)) | ((gap == 0) & ~shown))
            candidates = np.flatnonzero(keep & bad[member])
            if len(candidates) == 0:
                continue
            order = candidates[np.lexsort((counts[candidates], member[candidates]))]
            first = np.r_[True, member[order][1:] != member[order][:-1]]
            drop[order[first]] = True
        if not drop.any():
            return keep
        keep &= ~drop


def suppress_grids(base: Grid, k: int, national: int | None) -> dict[float, np.ndarray]:
    """Which cells of each size a caller under threshold ``k`` may see.

    Parameters
    ----------
    base
        Counts per base cell (:func:`count_cells`).
    k
        Suppression threshold.
    national
        Selected households of the run as its summary publishes them (``None``: withheld).

    Returns
    -------
    dict
        Cell size -> boolean mask over the cells of ``base.coarsen(size)``.
    """
    grids = {cell: base.coarsen(cell) for cell in CELL_SIZES}
    if national is None:
        return {cell: np.zeros(len(g.selected), dtype=bool) for cell, g in grids.items()}
    shown: dict[float, np.ndarray] = {}
    for cell in sorted(CELL_SIZES, reverse=True):  # coarse first: finer grids depend on them
        grid = grids[cell]
        groups = [
            (
                np.zeros(len(grid.selected), dtype=np.int64),
                np.array([national]),
                np.array([True]),
            )
        ]
        for coarse in _ancestors(cell):
            step = _ratio(coarse) // _ratio(cell)
            parent = grids[coarse]
            # cells are sorted by (iy, ix), so a combined key finds each cell's parent
            member = np.searchsorted(
                parent.iy * _NX + parent.ix, (grid.iy // step) * _NX + grid.ix // step
            )
            groups.append((member, parent.selected, shown[coarse]))
        shown[cell] = _settle(grid, grid.selected >= k, groups, k)
    return shown


def grid_view(run_dir: Path, cell: float, k: int | None) -> dict[str, Any]:
    """The density grid of a run at ``cell`` degrees as a caller under ``k`` sees it.

    Parameters
    ----------
    run_dir
        Artifact folder of a finished run.
    cell
        One of :data:`CELL_SIZES`.
    k
        Suppression threshold (``None``: admins, nothing withheld).

    Returns
    -------
    dict
        ``{"cell", "k", "cells": [{"lon", "lat", "selected"}], "withheld_cells"}``; computed
        once per run (and caseload stamp) and threshold for all sizes.
    """
    caseload = run_dir / "caseload.parquet"
    key = (str(run_dir), caseload.stat().st_mtime_ns, k)
    grids = _GRIDS.get(key)
    if grids is None:
        grids = _build(run_dir, caseload, k)
        _GRIDS.put(key, grids)
    grid = grids[cell]
    keep = grid.selected > 0
    cells = grid.rows(keep)
    return {"cell": cell, "k": k, "cells": cells, "withheld_cells": int(grid.ix.size - len(cells))}


def _build(run_dir: Path, caseload: Path, k: int | None) -> dict[float, Grid]:
    """Every size's grid with the withheld cells' counts set to 0 (``k`` None: none)."""
    base = read_grid(caseload)
    grids = {cell: base.coarsen(cell) for cell in CELL_SIZES}
    if k is None:
        return grids
    totals = published(run_dir, k)["totals"]
    national = None if totals["suppressed"] else int(totals["selected"] or 0)
    masks = suppress_grids(base, k, national)
    return {
        cell: Grid(cell, g.ix, g.iy, np.where(masks[cell], g.selected, 0))
        for cell, g in grids.items()
    }
