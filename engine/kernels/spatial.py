"""Spatial order of points (Hilbert curve), so joins against grids touch memory in order.

Sorting the registry once by :func:`spatial_order` when it loads puts households that are near
each other on the ground next to each other in memory; the raster and polygon kernels then read
nearby cells one after another instead of jumping around a 150 MB raster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rahat.engine.kernels._jit import kernel, parallel_kernel, prange

#: Hilbert order of the buckets :func:`spatial_order` sorts into (4**11 = 4 M buckets).
_SORT_ORDER = 11


@kernel
def _interleave(v: int) -> int:
    """Spread the low 16 bits of ``v`` to the even bits of a 32-bit word."""
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


@kernel
def _hilbert_index(order: int, x: int, y: int) -> int:
    """Hilbert index of cell ``(x, y)`` of a ``2**order`` square grid (``order <= 16``).

    Branch-free prefix-scan formulation after F. Giesen / rawrunprotected
    (``hilbert_curves``, public domain).
    """
    x = x << (16 - order)
    y = y << (16 - order)
    a = x ^ y
    b = 0xFFFF ^ a
    c = 0xFFFF ^ (x | y)
    d = x & (y ^ 0xFFFF)
    A = a | (b >> 1)
    B = (a >> 1) ^ a
    C = ((c >> 1) ^ (b & (d >> 1))) ^ c
    D = ((a & (c >> 1)) ^ (d >> 1)) ^ d
    for shift in (2, 4):
        a, b, c, d = A, B, C, D
        A = (a & (a >> shift)) ^ (b & (b >> shift))
        B = (a & (b >> shift)) ^ (b & ((a ^ b) >> shift))
        C = c ^ ((a & (c >> shift)) ^ (b & (d >> shift)))
        D = d ^ ((b & (c >> shift)) ^ ((a ^ b) & (d >> shift)))
    a, b, c, d = A, B, C, D
    C = c ^ ((a & (c >> 8)) ^ (b & (d >> 8)))
    D = d ^ ((b & (c >> 8)) ^ ((a ^ b) & (d >> 8)))
    a = C ^ (C >> 1)
    b = D ^ (D >> 1)
    i0 = x ^ y
    i1 = b | (0xFFFF ^ (i0 | a))
    return ((_interleave(i1) << 1) | _interleave(i0)) >> (32 - 2 * order)


@parallel_kernel
def _hilbert_kernel(
    x: np.ndarray,
    y: np.ndarray,
    minx: float,
    miny: float,
    scale_x: float,
    scale_y: float,
    order: int,
    out: np.ndarray,
) -> None:
    top = (1 << order) - 1
    last = (1 << (2 * order)) - 1
    for n in prange(x.shape[0]):
        fx = (x[n] - minx) * scale_x
        fy = (y[n] - miny) * scale_y
        if not (fx == fx and fy == fy):
            out[n] = last  # NaN coordinates sort last
            continue
        # Clamp to the curve's square (also catches infinities).
        ix = top if fx >= top else (0 if fx <= 0.0 else int(fx))
        iy = top if fy >= top else (0 if fy <= 0.0 else int(fy))
        out[n] = _hilbert_index(order, ix, iy)


@kernel
def _counting_argsort(keys: np.ndarray, nbuckets: int) -> np.ndarray:
    """Stable argsort of small non-negative integer keys (counting sort)."""
    start = np.zeros(nbuckets + 1, dtype=np.int64)
    for n in range(keys.shape[0]):
        start[keys[n] + 1] += 1
    for b in range(nbuckets):
        start[b + 1] += start[b]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for n in range(keys.shape[0]):
        k = keys[n]
        order[start[k]] = n
        start[k] += 1
    return order


def _coordinates(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    px = np.ascontiguousarray(x, dtype=np.float64).ravel()
    py = np.ascontiguousarray(y, dtype=np.float64).ravel()
    if px.shape != py.shape:
        raise ValueError(f"x and y differ in length ({px.size} and {py.size})")
    return px, py


def hilbert_keys(
    x: Any, y: Any, bounds: tuple[float, float, float, float], order: int = 16
) -> np.ndarray:
    """Position of each point along a Hilbert curve over ``bounds``.

    Parameters
    ----------
    x, y
        Point coordinates (1-D, same length).
    bounds
        ``(minx, miny, maxx, maxy)`` covered by the curve; points outside are clamped to it.
    order
        The curve fills a ``2**order`` by ``2**order`` grid (1 to 16).

    Returns
    -------
    numpy.ndarray
        uint32 keys in ``[0, 4**order)``; NaN coordinates get the largest key.
    """
    if not 1 <= order <= 16:
        raise ValueError(f"order must be between 1 and 16, got {order}")
    px, py = _coordinates(x, y)
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    side = float(1 << order)
    scale_x = side / (maxx - minx) if maxx > minx else 0.0
    scale_y = side / (maxy - miny) if maxy > miny else 0.0
    out = np.empty(px.size, dtype=np.uint32)
    _hilbert_kernel(px, py, minx, miny, scale_x, scale_y, order, out)
    return out


def spatial_order(
    x: Any, y: Any, bounds: tuple[float, float, float, float] | None = None
) -> np.ndarray:
    """Permutation that sorts points along a Hilbert curve (NaN points last).

    Points are bucketed on a ``2**11`` by ``2**11`` Hilbert grid over ``bounds`` (0.008 degrees
    over Pakistan) by a stable counting sort: points in one bucket keep their input order.

    Parameters
    ----------
    x, y
        Point coordinates (1-D, same length).
    bounds
        ``(minx, miny, maxx, maxy)``; default: the bounds of the finite points.

    Returns
    -------
    numpy.ndarray
        int64 indices: ``x[order], y[order]`` is the sorted registry.
    """
    px, py = _coordinates(x, y)
    if bounds is None:
        finite = np.isfinite(px) & np.isfinite(py)
        if not finite.any():
            return np.arange(px.size, dtype=np.int64)
        bounds = (px[finite].min(), py[finite].min(), px[finite].max(), py[finite].max())
    keys = hilbert_keys(px, py, bounds, order=_SORT_ORDER)
    nbuckets = 1 << (2 * _SORT_ORDER)
    if px.size < nbuckets // 4:  # few points: the buckets would cost more than the sort
        return np.argsort(keys, kind="stable").astype(np.int64, copy=False)
    return _counting_argsort(keys, nbuckets)
