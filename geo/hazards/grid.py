"""Raster grids: a file-backed lazy grid read by window, and an in-memory grid.

Both expose the same interface (:class:`RasterGrid`): georeferencing (``transform``, ``shape``,
``nodata``, ``dtype``), ``read(window)`` returning raw values in the file's dtype with no-data
kept as the no-data value, ``block_windows()`` over native blocks, and ``strips()`` that stream
full-width row strips with bounded memory.

Non-finite values (+inf, -inf) of float grids are no data: both read them as NaN, so no
consumer can rank an infinite depth first (``strips(keep_infinite=True)`` lets the validation
scan count them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from affine import Affine
    from rasterio.windows import Window

#: Target number of pixels per streamed strip (rounded up to whole block rows).
_STRIP_PIXELS = 1 << 20


def _windows(shape: tuple[int, int], block: tuple[int, int]) -> Iterator[Window]:
    from rasterio.windows import Window

    rows, cols = shape
    bh, bw = block
    for r in range(0, rows, bh):
        for c in range(0, cols, bw):
            yield Window(c, r, min(bw, cols - c), min(bh, rows - r))


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Replace +inf / -inf of a float array by NaN, in place; return the array."""
    if values.dtype.kind == "f":
        infinite = np.isinf(values)
        if infinite.any():
            values[infinite] = np.nan
    return values


def nodata_in_dtype(nodata: float | int | None, dtype: np.dtype[Any]) -> np.generic | None:
    """Return ``nodata`` as a value of ``dtype``, or ``None`` if no cell of it can hold it.

    ``None`` and NaN mean no sentinel (NaN cells are no data anyway); an integer dtype cannot
    hold a fractional or out-of-range sentinel; a float dtype holds any, cast to it as GDAL
    casts the no-data value to the band type.

    Parameters
    ----------
    nodata
        The no-data value as the file states it.
    dtype
        Data type of the values.

    Returns
    -------
    numpy.generic or None
        The sentinel to compare cells with, in ``dtype``.
    """
    if nodata is None or (isinstance(nodata, float) and np.isnan(nodata)):
        return None
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not (info.min <= nodata <= info.max and float(nodata).is_integer()):
            return None  # the sentinel cannot occur in this dtype
    return dtype.type(nodata)


def _strip_rows(shape: tuple[int, int], block: tuple[int, int]) -> int:
    bh = max(1, block[0])
    per_block_row = bh * max(1, shape[1])
    return bh * max(1, _STRIP_PIXELS // per_block_row)


class RasterGrid(ABC):
    """A north-up raster grid with one band of values.

    Attributes
    ----------
    transform : affine.Affine
        Pixel-to-CRS transform of the upper-left corner.
    shape : tuple of int
        ``(rows, cols)``.
    nodata : float, int or None
        No-data sentinel (NaN is always no-data for float grids).
    dtype : numpy.dtype
        dtype of the values as stored.
    """

    transform: Affine
    shape: tuple[int, int]
    nodata: float | int | None
    dtype: np.dtype
    block_shape: tuple[int, int]

    @abstractmethod
    def read(self, window: Window | None = None) -> np.ndarray:
        """Return the raw 2-D values of ``window`` (the whole grid if ``None``)."""

    @abstractmethod
    def strips(self, *, keep_infinite: bool = False) -> Iterator[tuple[Window, np.ndarray]]:
        """Yield ``(window, values)`` for full-width row strips, top to bottom.

        Infinite values are read as NaN unless ``keep_infinite``.
        """

    def block_windows(self) -> Iterator[Window]:
        """Yield the windows of the grid's native blocks, row by row."""
        return _windows(self.shape, self.block_shape)

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units, both positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in the grid's CRS."""
        t = self.transform
        xs = (t.c, t.c + t.a * self.width)
        ys = (t.f, t.f + t.e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def valid(self, values: np.ndarray) -> np.ndarray:
        """Return a boolean mask of the cells of ``values`` that hold data.

        NaN and infinite values of float grids never hold data.
        """
        mask = np.ones(values.shape, dtype=bool)
        if values.dtype.kind == "f":
            mask &= np.isfinite(values)
        nodata = nodata_in_dtype(self.nodata, values.dtype)
        if nodata is not None:
            mask &= values != nodata
        return mask


@dataclass(frozen=True, eq=False)
class FileRasterGrid(RasterGrid):
    """A grid backed by a raster file (GeoTIFF, COG, ...), read lazily by window.

    Parameters
    ----------
    path
        Path or GDAL path (``/vsizip/...``) of the file.
    band
        1-based band index.
    transform, shape, nodata, dtype, block_shape
        Georeferencing and layout of the grid (of the window, when ``offset`` is set).
    offset
        ``(row, col)`` of the grid's first cell in the file: a grid may be a window of the
        file (the part over a registry), and only that window is ever read.
    """

    path: str
    band: int
    transform: Affine
    shape: tuple[int, int]
    nodata: float | int | None
    dtype: np.dtype
    block_shape: tuple[int, int]
    offset: tuple[int, int] = (0, 0)

    def _in_file(self, window: Window | None) -> Window:
        from rasterio.windows import Window

        row0, col0 = self.offset
        if window is None:
            return Window(col0, row0, self.width, self.height)
        return Window(
            int(window.col_off) + col0, int(window.row_off) + row0, window.width, window.height
        )

    def _env(self) -> Any:
        import rasterio

        return rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_NUM_THREADS="ALL_CPUS")

    def read(self, window: Window | None = None) -> np.ndarray:
        """Return the raw 2-D values of ``window`` (the whole grid if ``None``), inf as NaN."""
        return self._read_strip(window)

    def _read_strip(self, window: Window | None, keep_infinite: bool = False) -> np.ndarray:
        import rasterio

        # opened per strip: closing drops the strip's blocks from GDAL's block cache, so memory
        # stays bounded by a strip whatever GDAL_CACHEMAX is
        with self._env(), rasterio.open(self.path) as src:
            values = np.asarray(src.read(self.band, window=self._in_file(window)))
        return values if keep_infinite else finite_or_nan(values)

    def strips(self, *, keep_infinite: bool = False) -> Iterator[tuple[Window, np.ndarray]]:
        """Yield ``(window, values)`` for full-width row strips of whole block rows.

        The next strip is decoded in a background thread while the caller works on the current
        one (GDAL releases the GIL), so at most two strips are in memory.
        """
        from concurrent.futures import ThreadPoolExecutor

        from rasterio.windows import Window

        step = _strip_rows(self.shape, self.block_shape)
        windows = [
            Window(0, r, self.width, min(step, self.height - r))
            for r in range(0, self.height, step)
        ]
        with ThreadPoolExecutor(max_workers=1) as pool:
            keep = keep_infinite
            pending = pool.submit(self._read_strip, windows[0], keep) if windows else None
            for i, window in enumerate(windows):
                assert pending is not None
                values = pending.result()
                if i + 1 < len(windows):
                    pending = pool.submit(self._read_strip, windows[i + 1], keep)
                yield window, values


@dataclass(frozen=True, eq=False)
class ArrayRasterGrid(RasterGrid):
    """A grid held in memory (result of a time reduction or of gridding points).

    Parameters
    ----------
    array
        2-D values, north-up (row 0 is the northern edge); infinite values are stored as NaN
        (the array is copied when it holds any).
    transform
        Pixel-to-CRS transform.
    nodata
        No-data sentinel, or ``None`` (NaN is always no-data for floats).
    """

    array: np.ndarray
    transform: Affine
    nodata: float | int | None = None

    shape: tuple[int, int] = field(init=False)
    dtype: np.dtype = field(init=False)
    block_shape: tuple[int, int] = field(init=False)
    #: Number of infinite values the array was given (stored as NaN).
    infinite_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.array.dtype.kind == "f":
            n_inf = int(np.count_nonzero(np.isinf(self.array)))
            if n_inf:
                object.__setattr__(self, "array", finite_or_nan(self.array.copy()))
                object.__setattr__(self, "infinite_count", n_inf)
        rows, cols = self.array.shape
        object.__setattr__(self, "shape", (int(rows), int(cols)))
        object.__setattr__(self, "dtype", self.array.dtype)
        object.__setattr__(self, "block_shape", (min(256, int(rows)), min(256, int(cols))))

    def read(self, window: Window | None = None) -> np.ndarray:
        """Return a copy of the values of ``window`` (the whole grid if ``None``)."""
        if window is None:
            return self.array.copy()
        return np.array(self.array[window.toslices()])

    def strips(self, *, keep_infinite: bool = False) -> Iterator[tuple[Window, np.ndarray]]:
        """Yield ``(window, values)`` for full-width strips (views of the array)."""
        from rasterio.windows import Window

        step = _strip_rows(self.shape, self.block_shape)
        for r in range(0, self.height, step):
            h = min(step, self.height - r)
            yield Window(0, r, self.width, h), self.array[r : r + h]
