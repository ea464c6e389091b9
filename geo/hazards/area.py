"""Areas in an equal-area CRS (EPSG:6933): per raster cell and per vector class.

Raster cells: for a geographic grid every cell of a row has the same area, computed exactly as
the area of the cell's lon/lat rectangle in the cylindrical equal-area EPSG:6933 (parallels and
meridians are straight lines there). For a projected grid the corners of blocks of
``_COARSE`` x ``_COARSE`` cells are transformed to EPSG:6933 and each block's exact quadrilateral
area is shared among its cells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.geo.hazards.classes import Classification

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj
    from affine import Affine
    from shapely import Geometry

    from rahat.geo.hazards.grid import RasterGrid
    from rahat.geo.hazards.layer import HazardLayer, RasterStats

#: The equal-area CRS all areas are computed in (NSIDC EASE-Grid 2.0 Global, WGS 84).
EQUAL_AREA_CRS = "EPSG:6933"
_COARSE = 16
#: Pixels processed at once by :func:`scan_raster` (bounds the numpy temporaries).
_CHUNK_PIXELS = 1 << 18


class CellAreas:
    """Per-cell areas (m², equal-area) of the rows of a north-up grid.

    Parameters
    ----------
    transform
        Pixel-to-CRS transform (no rotation).
    crs
        The grid's CRS.
    width
        Number of columns.
    """

    def __init__(self, transform: Affine, crs: pyproj.CRS, width: int) -> None:
        from pyproj import Transformer

        self.transform = transform
        self.width = width
        self.geographic = bool(crs.is_geographic)
        self._tr = Transformer.from_crs(crs, EQUAL_AREA_CRS, always_xy=True)

    def __call__(self, row_off: int, nrows: int) -> np.ndarray:
        """Return areas of rows ``row_off .. row_off + nrows``.

        Returns
        -------
        numpy.ndarray
            Shape ``(nrows, 1)`` for geographic grids (constant along a row), otherwise
            ``(nrows, width)``.
        """
        t = self.transform
        if self.geographic:
            edges = t.f + t.e * np.arange(row_off, row_off + nrows + 1, dtype=float)
            lat = np.clip(edges, -90.0, 90.0)
            x0 = np.full(lat.shape, t.c)
            _, y = self._tr.transform(x0, lat)
            xa, _ = self._tr.transform(np.array([t.c, t.c + t.a]), np.zeros(2))
            dx = abs(float(xa[1] - xa[0]))
            return (np.abs(np.diff(np.asarray(y))) * dx)[:, None]
        return self._projected(row_off, nrows)

    def _projected(self, row_off: int, nrows: int) -> np.ndarray:
        t = self.transform
        r_nodes = np.unique(np.r_[np.arange(0, nrows, _COARSE), nrows])
        c_nodes = np.unique(np.r_[np.arange(0, self.width, _COARSE), self.width])
        cc, rr = np.meshgrid(c_nodes.astype(float), (r_nodes + row_off).astype(float))
        x = t.c + t.a * cc + t.b * rr
        y = t.f + t.d * cc + t.e * rr
        X, Y = (np.asarray(v) for v in self._tr.transform(x, y))
        # shoelace of each quad (p00, p01, p11, p10)
        x00, x01, x11, x10 = X[:-1, :-1], X[:-1, 1:], X[1:, 1:], X[1:, :-1]
        y00, y01, y11, y10 = Y[:-1, :-1], Y[:-1, 1:], Y[1:, 1:], Y[1:, :-1]
        quad = 0.5 * np.abs(
            (x00 * y01 - x01 * y00)
            + (x01 * y11 - x11 * y01)
            + (x11 * y10 - x10 * y11)
            + (x10 * y00 - x00 * y10)
        )
        nr = np.diff(r_nodes)
        nc = np.diff(c_nodes)
        per_cell = quad / np.outer(nr, nc)
        return np.repeat(np.repeat(per_cell, nr, axis=0), nc, axis=1)


def _extremes(dtype: np.dtype) -> tuple[Any, Any]:
    if dtype.kind == "f":
        return np.inf, -np.inf
    if dtype.kind == "b":
        return True, False
    info = np.iinfo(dtype)
    return info.max, info.min


def scan_raster(grid: RasterGrid, crs: pyproj.CRS, classes: Classification) -> RasterStats:
    """Stream a grid once: count valid cells, value range and equal-area m² per class.

    Every block is decoded, so a truncated or corrupt file fails here (as a rasterio error the
    caller turns into an :class:`~rahat.geo.errors.UnreadableFileError`). Infinite values are
    no data and are counted.
    """
    from rahat.geo.hazards.layer import RasterStats

    areas = CellAreas(grid.transform, crs, grid.width)
    totals = np.zeros(classes.n_classes + 1, dtype=float)
    valid_count = 0
    infinite_count = int(getattr(grid, "infinite_count", 0))
    lo, hi = np.inf, -np.inf
    for window, strip in grid.strips(keep_infinite=True):
        rows = max(1, _CHUNK_PIXELS // max(1, grid.width))
        for r in range(0, strip.shape[0], rows):
            values = strip[r : r + rows]
            if values.dtype.kind == "f":
                infinite_count += int(np.count_nonzero(np.isinf(values)))
            valid = grid.valid(values)
            codes = classes.classify(values)
            codes[~valid] = -1
            n_valid = int(np.count_nonzero(valid))
            if n_valid:
                valid_count += n_valid
                top, bottom = _extremes(values.dtype)
                lo = min(lo, float(np.min(values, where=valid, initial=top)))
                hi = max(hi, float(np.max(values, where=valid, initial=bottom)))
            cell = areas(int(window.row_off) + r, values.shape[0])
            weights = np.broadcast_to(cell, codes.shape).ravel()
            codes += 1  # -1 (no data) -> bin 0
            totals += np.bincount(
                codes.ravel().view(np.uint8), weights=weights, minlength=classes.n_classes + 1
            )
    return RasterStats(
        valid_count=valid_count,
        minimum=lo if valid_count else None,
        maximum=hi if valid_count else None,
        class_area_m2=totals,
        classes=classes,
        infinite_count=infinite_count,
    )


def vector_class_geometries(gdf: gpd.GeoDataFrame, classes: Classification) -> dict[int, Geometry]:
    """Return the union of the footprint per class code, in EPSG:6933.

    Where polygons of different classes overlap, the higher class wins, so the class areas add
    up to the footprint area. Code -1 collects features whose value is NaN.
    """
    import shapely

    eq = gdf.to_crs(EQUAL_AREA_CRS)
    codes = classes.classify(np.asarray(eq["value"], dtype=float))
    out: dict[int, Geometry] = {}
    taken = shapely.Polygon()
    for code in sorted({int(c) for c in np.unique(codes)}, reverse=True):
        geoms = eq.geometry.values[codes == code]
        union = shapely.union_all(shapely.make_valid(np.asarray(geoms)))
        out[code] = shapely.difference(union, taken)
        taken = shapely.union(taken, union)
    return out


def class_areas_m2(layer: HazardLayer) -> np.ndarray:
    """Return equal-area m² per class: index 0 = no data, index ``i + 1`` = class ``i``.

    Uses the statistics cached at read time when they were computed with the layer's classes,
    otherwise streams the raster (or unions the polygons) again.
    """
    n = layer.classes.n_classes
    if layer.grid is not None:
        stats = layer.stats
        if stats is None or stats.classes != layer.classes:
            stats = scan_raster(layer.grid, layer.crs, layer.classes)
        return np.asarray(stats.class_area_m2, dtype=float)
    assert layer.vector is not None
    out = np.zeros(n + 1, dtype=float)
    for code, geom in vector_class_geometries(layer.vector, layer.classes).items():
        out[code + 1] = float(geom.area)
    return out
