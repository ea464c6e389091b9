"""Sample a raster at points: the nearest cell, or the cells within a radius.

The cell of a point follows :func:`rasterio.transform.rowcol` exactly: the affine transform is
inverted with :mod:`affine` (as rasterio does), the point is mapped to fractional pixel
coordinates with ``col = (ia * x + ib * y) + ic`` and ``row = (id * x + ie * y) + if`` and both
are floored. For north-up and south-up grids (``b == d == 0``) this is bit for bit what
rasterio computes, points exactly on cell borders and corners included; for rotated grids
rasterio's matrix product may fuse multiply-adds, so a point within an ulp of a border may
land in the neighbouring cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from affine import Affine

from rahat.geo.hazards.grid import nodata_in_dtype
from rahat.geo.jit import kernel, parallel_kernel, prange

Transform = Sequence[float] | Affine


@kernel
def _pixel(t: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Fractional (row, col) of ``(x, y)`` under the inverse transform ``t`` (6 floats)."""
    col = (t[0] * x + t[1] * y) + t[2]
    row = (t[3] * x + t[4] * y) + t[5]
    return row, col


@parallel_kernel
def _sample_nearest_kernel(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    inverse: np.ndarray,
    row_off: int,
    col_off: int,
    has_nodata: bool,
    nodata: Any,
    out: np.ndarray,
    fill_outside: bool,
) -> None:
    nrows, ncols = values.shape
    r_lo = float(row_off)
    r_hi = float(row_off + nrows)
    c_lo = float(col_off)
    c_hi = float(col_off + ncols)
    for i in prange(x.shape[0]):
        row, col = _pixel(inverse, x[i], y[i])
        # Comparisons are False for NaN, so NaN coordinates fall through to "outside".
        if row >= r_lo and row < r_hi and col >= c_lo and col < c_hi:
            v = values[math.floor(row) - row_off, math.floor(col) - col_off]
            if v != v or (has_nodata and v == nodata):
                out[i] = np.nan
            else:
                out[i] = v
        elif fill_outside:
            out[i] = np.nan


@kernel
def _clamped_floor(v: float, lo: float, hi: float) -> int:
    """``floor(v)`` with ``v`` first clamped to ``[lo, hi]`` (no integer overflow)."""
    return math.floor(min(max(v, lo), hi))


@kernel
def _in_ellipse(j: int, a: float, c0: float, px: float, rx: float, dy2: float) -> bool:
    """Whether the centre of column ``j`` lies in the ellipse, on a row at ``dy2``."""
    dx = (a * (j + 0.5) + c0 - px) / rx
    return dx * dx + dy2 <= 1.0


@kernel
def _row_span(
    col: float, a: float, c0: float, px: float, rx: float, dy2: float, lo: int, hi: int, wide: float
) -> tuple[int, int]:
    """Columns of one row whose centres lie in the ellipse, clipped to ``[lo, hi]``.

    The test is unimodal along a row (the centre distance falls, then rises), so the columns
    form one run around the column holding the point. Its ends are estimated analytically and
    then settled with the exact test, so only a few cells are tested per row.
    """
    jm = _clamped_floor(col, -wide, wide)
    if _in_ellipse(jm, a, c0, px, rx, dy2):
        seed = jm
    elif _in_ellipse(jm - 1, a, c0, px, rx, dy2):
        seed = jm - 1
    elif _in_ellipse(jm + 1, a, c0, px, rx, dy2):
        seed = jm + 1
    else:
        return 0, -1
    half = min(math.sqrt(1.0 - dy2) * rx / abs(a), wide)
    left = min(seed, max(_clamped_floor(col - 0.5 - half, -wide, wide), lo))
    if _in_ellipse(left, a, c0, px, rx, dy2):
        while left > lo and _in_ellipse(left - 1, a, c0, px, rx, dy2):
            left -= 1
    else:
        while not _in_ellipse(left, a, c0, px, rx, dy2):
            left += 1
    right = max(seed, min(_clamped_floor(col - 0.5 + half, -wide, wide) + 1, hi))
    if _in_ellipse(right, a, c0, px, rx, dy2):
        while right < hi and _in_ellipse(right + 1, a, c0, px, rx, dy2):
            right += 1
    else:
        while not _in_ellipse(right, a, c0, px, rx, dy2):
            right -= 1
    return max(left, lo), min(right, hi)


@kernel
def _accumulate(
    v: Any, has_nodata: bool, nodata: Any, count: int, total: float, best: float
) -> tuple[int, float, float]:
    """Add one cell value to the running count, sum and maximum (no data is skipped)."""
    if v != v or (has_nodata and v == nodata):
        return count, total, best
    fv = float(v)
    return count + 1, total + fv, max(best, fv)


@parallel_kernel
def _sample_radius_kernel(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    forward: np.ndarray,
    inverse: np.ndarray,
    row_off: int,
    col_off: int,
    has_nodata: bool,
    nodata: Any,
    radius_x: np.ndarray,
    radius_y: np.ndarray,
    use_mean: bool,
    out: np.ndarray,
) -> None:
    nrows, ncols = values.shape
    a = forward[0]
    c0 = forward[2]
    e = forward[4]
    f0 = forward[5]
    lo = col_off
    hi = col_off + ncols - 1
    wide = 2.0 * (nrows + ncols + row_off + col_off + 2)
    for i in prange(x.shape[0]):
        px = x[i]
        py = y[i]
        rx = radius_x[i]
        ry = radius_y[i]
        row, col = _pixel(inverse, px, py)
        if not (math.isfinite(row) and math.isfinite(col)):
            out[i] = np.nan
            continue
        # Cell holding the point (may lie outside the window: has_c).
        kc = _clamped_floor(row, -wide, wide)
        jc = _clamped_floor(col, -wide, wide)
        has_c = row_off <= kc < row_off + nrows and lo <= jc <= hi
        point_only = not (rx > 0.0 and ry > 0.0)
        if point_only:
            k0 = kc
            k1 = kc
        else:
            wr = min(ry / abs(e), wide)
            k0 = max(_clamped_floor(row - wr, -wide, wide) - 1, row_off)
            k1 = min(_clamped_floor(row + wr, -wide, wide) + 1, row_off + nrows - 1)
        count = 0
        total = 0.0
        best = -np.inf
        for k in range(k0, k1 + 1):
            j0 = 0
            j1 = -1
            if not point_only:
                dy = (e * (k + 0.5) + f0 - py) / ry
                dy2 = dy * dy
                if dy2 <= 1.0:
                    j0, j1 = _row_span(col, a, c0, px, rx, dy2, lo, hi, wide)
            # Cells in row-major order; the containing cell joins where it belongs.
            extra = has_c and k == kc and not j0 <= jc <= j1
            if extra and (jc < j0 or j1 < j0):
                count, total, best = _accumulate(
                    values[k - row_off, jc - col_off], has_nodata, nodata, count, total, best
                )
            for j in range(j0, j1 + 1):
                count, total, best = _accumulate(
                    values[k - row_off, j - col_off], has_nodata, nodata, count, total, best
                )
            if extra and jc > j1 >= j0:
                count, total, best = _accumulate(
                    values[k - row_off, jc - col_off], has_nodata, nodata, count, total, best
                )
        if count == 0:
            out[i] = np.nan
        elif use_mean:
            out[i] = total / count
        else:
            out[i] = best


def _coefficients(transform: Transform) -> tuple[np.ndarray, np.ndarray]:
    """Forward and inverse affine coefficients ``(a, b, c, d, e, f)`` as float64 arrays."""
    from affine import Affine

    coeffs = tuple(float(v) for v in tuple(transform)[:6])
    if len(coeffs) != 6:
        raise ValueError(f"transform needs 6 coefficients (a, b, c, d, e, f), got {transform!r}")
    affine = Affine(*coeffs)
    if affine.is_degenerate:
        raise ValueError(f"transform {coeffs} is degenerate (cells have no area)")
    inverse = ~affine  # exactly what rasterio.transform.rowcol inverts with
    return np.array(coeffs, dtype=np.float64), np.array(inverse[:6], dtype=np.float64)


def _points(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    xa, ya = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    shape = xa.shape
    return np.ascontiguousarray(xa).ravel(), np.ascontiguousarray(ya).ravel(), shape


def _nodata(values: np.ndarray, nodata: float | None) -> tuple[bool, Any]:
    """Whether to mask a nodata value, and that value in the raster's dtype."""
    value = nodata_in_dtype(nodata, values.dtype)
    if value is None:
        return False, values.dtype.type(0)  # NaN cells are masked anyway; no cell holds it
    return True, value


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D raster band, got {values.ndim} dimensions")
    if not (np.issubdtype(values.dtype, np.number) and values.dtype.kind != "c"):
        raise ValueError(f"values must be a real numeric array, got dtype {values.dtype}")
    if values.dtype == np.float16:  # numba has no float16 arithmetic
        return values.astype(np.float32)
    return values


def sample_nearest(
    x: Any,
    y: Any,
    values: np.ndarray,
    transform: Transform,
    nodata: float | None = None,
    *,
    row_off: int = 0,
    col_off: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Value of the raster cell containing each point.

    The cell is the one :func:`rasterio.transform.rowcol` returns (floor of the inverse
    affine), bit for bit for north-up and south-up grids, so a point on a cell border belongs to
    the cell to its right (in column order) and below it (in row order).

    Parameters
    ----------
    x, y
        Point coordinates in the raster's CRS (broadcast together; any shape).
    values
        The band, or a window of it: ``values[i, j]`` is cell ``(row_off + i, col_off + j)``
        of the full raster.
    transform
        Affine transform of the *full* raster: an :class:`affine.Affine` or its six
        coefficients ``(a, b, c, d, e, f)``.
    nodata
        Cell value meaning "no data" (cast to the band's dtype, as GDAL does); NaN cells are
        always no data.
    row_off, col_off
        Offset of the window ``values`` within the full raster.
    out
        Optional float array of the points' shape to write into. Points outside the window are
        then left untouched, so windows of one raster can be streamed into one result.

    Returns
    -------
    numpy.ndarray
        Shape of the broadcast points, dtype ``np.result_type(values.dtype, np.float32)``
        (or ``out``'s). NaN for no-data cells, NaN coordinates and points outside the window.
    """
    values = _check_values(values)
    px, py, shape = _points(x, y)
    _, inverse = _coefficients(transform)
    has_nodata, nd = _nodata(values, nodata)
    if out is None:
        result = np.empty(px.shape[0], dtype=np.result_type(values.dtype, np.float32))
        target = result
    else:
        if out.shape != shape or not np.issubdtype(out.dtype, np.floating):
            raise ValueError(f"out must be a float array of shape {shape}")
        result = out
        target = out.reshape(-1)  # a view when out is contiguous
        if not np.shares_memory(target, out):
            raise ValueError("out must be C-contiguous")
    with np.errstate(all="ignore"):  # inf * 0 in pure-Python mode (NUMBA_DISABLE_JIT)
        _sample_nearest_kernel(
            px, py, values, inverse, int(row_off), int(col_off), has_nodata, nd, target, out is None
        )
    return result.reshape(shape)


def sample_within_radius(
    x: Any,
    y: Any,
    values: np.ndarray,
    transform: Transform,
    nodata: float | None,
    radius_x: Any,
    radius_y: Any,
    reducer: Literal["max", "mean"] = "max",
    *,
    row_off: int = 0,
    col_off: int = 0,
) -> np.ndarray:
    """Maximum or mean of the cells near each point (location uncertainty).

    A cell counts when its centre ``(xc, yc)`` lies in the ellipse
    ``((xc - x) / radius_x) ** 2 + ((yc - y) / radius_y) ** 2 <= 1`` around the point, or
    when it is the cell containing the point (as :func:`sample_nearest` finds it). Cell
    centres are ``xc = c + a * (col + 0.5)`` and ``yc = f + e * (row + 0.5)``. No-data and NaN
    cells are skipped; a point with no counted cell is NaN. Points just outside the raster
    still see the raster cells within their radius.

    Parameters
    ----------
    x, y
        Point coordinates in the raster's CRS.
    values
        The band, or a window of it at ``(row_off, col_off)``; cells outside the window are
        not seen, so a streamed window needs a halo of at least the radius.
    transform
        Affine transform of the full raster; must be north-up or south-up (``b == d == 0``).
    nodata
        Cell value meaning "no data", or None.
    radius_x, radius_y
        Half-axes of the ellipse in the raster's units, scalars or per point (the caller turns
        metres into degrees for geographic rasters). Must be >= 0; where either is 0 only the
        containing cell counts.
    reducer
        ``"max"`` or ``"mean"`` (float64 accumulation in row-major cell order).
    row_off, col_off
        Offset of the window ``values`` within the full raster.

    Returns
    -------
    numpy.ndarray
        Shape of the broadcast points, dtype ``np.result_type(values.dtype, np.float32)``.
    """
    if reducer not in ("max", "mean"):
        raise ValueError(f"reducer must be 'max' or 'mean', got {reducer!r}")
    values = _check_values(values)
    forward, inverse = _coefficients(transform)
    if forward[1] != 0.0 or forward[3] != 0.0:
        raise ValueError("sample_within_radius needs a north-up or south-up grid (b == d == 0)")
    arrays = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        np.asarray(radius_x, dtype=np.float64),
        np.asarray(radius_y, dtype=np.float64),
    )
    shape = arrays[0].shape
    px, py, rx, ry = (np.ascontiguousarray(a).ravel() for a in arrays)
    if not (np.all(rx >= 0) and np.all(ry >= 0)):
        raise ValueError("radius_x and radius_y must be >= 0 (and not NaN)")
    has_nodata, nd = _nodata(values, nodata)
    result = np.empty(px.shape[0], dtype=np.result_type(values.dtype, np.float32))
    with np.errstate(all="ignore"):  # inf * 0 in pure-Python mode (NUMBA_DISABLE_JIT)
        _sample_radius_kernel(
            px,
            py,
            values,
            forward,
            inverse,
            int(row_off),
            int(col_off),
            has_nodata,
            nd,
            rx,
            ry,
            reducer == "mean",
            result,
        )
    return result.reshape(shape)
