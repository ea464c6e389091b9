"""Raster sampling kernels: zero-tolerance equality with rasterio.transform.rowcol + indexing."""

from __future__ import annotations

import zlib

import numba
import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import rowcol
from rasterio.transform import xy as rio_xy

from rahat.engine.kernels.raster import sample_nearest, sample_within_radius

#: NUMBA_DISABLE_JIT=1 runs the kernels as Python: smaller inputs.
PURE_PYTHON = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]
N_POINTS = 3_000 if PURE_PYTHON else 40_000

#: North-up and south-up grids in EPSG:4326, EPSG:32642 and EPSG:3857 (non-dyadic sizes).
GRIDS = {
    "4326-north-up": Affine(0.0025, 0.0, 60.9, 0.0, -0.0025, 37.1),
    "4326-south-up": Affine(0.01, 0.0, 66.53, 0.0, 0.01, 24.31),
    "4326-east-to-west": Affine(-0.1, 0.0, 77.8, 0.0, -0.1, 37.1),
    "32642-north-up": Affine(92.766, 0.0, 201234.5, 0.0, -92.766, 4110987.25),
    "3857-north-up": Affine(611.49622628141, 0.0, 6779271.0, 0.0, -611.49622628141, 4439106.8),
}
SHAPE = (37, 53)


def reference_sample(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    transform: Affine,
    nodata: float | None,
    row_off: int = 0,
    col_off: int = 0,
) -> np.ndarray:
    """rasterio.transform.rowcol (as floats, so NaN and far points stay exact) + indexing."""
    with np.errstate(invalid="ignore"):  # NaN / inf coordinates
        rows, cols = rowcol(transform, x, y, op=np.floor)
    rows = np.asarray(rows, dtype=float) - row_off
    cols = np.asarray(cols, dtype=float) - col_off
    inside = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
    out = np.full(x.shape, np.nan, dtype=np.result_type(values.dtype, np.float32))
    picked = values[rows[inside].astype(int), cols[inside].astype(int)]
    out[inside] = picked
    if nodata is not None:
        out[inside & (out == out.dtype.type(nodata))] = np.nan
    return out


def border_points(
    transform: Affine, shape: tuple[int, int], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points exactly on cell borders and corners (inside and just outside), with 1-ulp nudges."""
    rows = rng.integers(-2, shape[0] + 3, n)
    cols = rng.integers(-2, shape[1] + 3, n)
    cx, cy = (np.asarray(v) for v in rio_xy(transform, rows, cols, offset="ul"))
    px = transform.c + cols * transform.a  # corners computed the other natural way
    py = transform.f + rows * transform.e
    mx, my = (np.asarray(v) for v in rio_xy(transform, rows, cols, offset="center"))
    xs = [cx, px, cx, mx, np.nextafter(cx, -np.inf), np.nextafter(px, np.inf)]
    ys = [cy, py, my, cy, np.nextafter(cy, np.inf), np.nextafter(py, -np.inf)]
    return np.concatenate(xs), np.concatenate(ys)


def grid_values(dtype: str, rng: np.random.Generator) -> tuple[np.ndarray, float | None]:
    values: np.ndarray
    if dtype == "float32":
        values = rng.normal(size=SHAPE).astype(np.float32)
        values[rng.random(SHAPE) < 0.1] = -9999.0
        values[rng.random(SHAPE) < 0.05] = np.nan
        return values, -9999.0
    if dtype == "float64-nan-nodata":
        values = rng.normal(size=SHAPE)
        values[rng.random(SHAPE) < 0.1] = np.nan
        return values, float("nan")
    if dtype == "int16":
        values = rng.integers(-5, 5, SHAPE).astype(np.int16)
        return values, -1
    return rng.integers(0, 255, SHAPE).astype(np.uint8), None


def points_for(transform: Affine, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = (
        sorted([transform.c, transform.c + SHAPE[1] * transform.a]),
        sorted([transform.f, transform.f + SHAPE[0] * transform.e]),
    )
    pad = 2 * abs(transform.a)
    rx = rng.uniform(x0 - pad, x1 + pad, N_POINTS)
    ry = rng.uniform(y0 - pad, y1 + pad, N_POINTS)
    bx, by = border_points(transform, SHAPE, N_POINTS // 6, rng)
    special_x = np.array([np.nan, 0.0, np.inf, -np.inf, 1e300, x0])
    special_y = np.array([y0, np.nan, y0, y1, -1e300, np.inf])
    return np.concatenate([rx, bx, special_x]), np.concatenate([ry, by, special_y])


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("dtype", ["float32", "float64-nan-nodata", "int16", "uint8"])
def test_nearest_matches_rowcol(grid: str, dtype: str) -> None:
    # One fixed seed per case: str hashes change from process to process (PYTHONHASHSEED).
    rng = np.random.default_rng(zlib.crc32(f"{grid}/{dtype}".encode()))
    transform = GRIDS[grid]
    values, nodata = grid_values(dtype, rng)
    x, y = points_for(transform, rng)
    got = sample_nearest(x, y, values, transform, nodata)
    expected = reference_sample(x, y, values, transform, nodata)
    assert got.dtype == np.result_type(values.dtype, np.float32)
    np.testing.assert_array_equal(got, expected)  # NaN == NaN, no tolerance
    # Inside the grid, rowcol's default int32 result indexes the same cells.
    inside = ~np.isnan(reference_sample(x, y, np.zeros(SHAPE), transform, None))
    rows, cols = rowcol(transform, x[inside], y[inside])
    direct = values[rows, cols].astype(got.dtype)
    if nodata is not None:
        direct[direct == direct.dtype.type(nodata)] = np.nan
    np.testing.assert_array_equal(got[inside], direct)


def test_coefficient_tuple_and_scalars() -> None:
    transform = GRIDS["4326-north-up"]
    values = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    x, y = transform @ (3.5, 2.5)
    got = sample_nearest(x, y, values, tuple(transform)[:6])
    assert got.shape == ()
    assert got == values[2, 3]
    assert sample_nearest(np.empty(0), np.empty(0), values, transform).shape == (0,)
    grid = sample_nearest(np.full((2, 3), x), y, values, transform)
    assert grid.shape == (2, 3) and (grid == values[2, 3]).all()


def test_float16_raster() -> None:
    transform = GRIDS["4326-south-up"]
    values = np.random.default_rng(3).normal(size=SHAPE).astype(np.float16)
    x, y = points_for(transform, np.random.default_rng(4))
    got = sample_nearest(x, y, values, transform)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference_sample(x, y, values, transform, None))


def test_windows_stream_into_out() -> None:
    rng = np.random.default_rng(5)
    transform = GRIDS["3857-north-up"]
    values, nodata = grid_values("float32", rng)
    x, y = points_for(transform, rng)
    full = sample_nearest(x, y, values, transform, nodata)
    streamed = np.full(x.shape, np.nan, dtype=np.float32)
    for r0, r1 in ((0, 10), (10, 37)):
        for c0, c1 in ((0, 20), (20, 41), (41, 53)):
            window = values[r0:r1, c0:c1]
            alone = sample_nearest(x, y, window, transform, nodata, row_off=r0, col_off=c0)
            np.testing.assert_array_equal(
                alone, reference_sample(x, y, window, transform, nodata, r0, c0)
            )
            sample_nearest(x, y, window, transform, nodata, row_off=r0, col_off=c0, out=streamed)
    np.testing.assert_array_equal(streamed, full)


def reference_radius(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    transform: Affine,
    nodata: float | None,
    radius_x: np.ndarray,
    radius_y: np.ndarray,
    reducer: str,
) -> np.ndarray:
    """Straightforward numpy: every cell centre of the raster tested against every point."""
    with np.errstate(over="ignore", invalid="ignore"):  # far and NaN points
        return _reference_radius(x, y, values, transform, nodata, radius_x, radius_y, reducer)


def _reference_radius(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    transform: Affine,
    nodata: float | None,
    radius_x: np.ndarray,
    radius_y: np.ndarray,
    reducer: str,
) -> np.ndarray:
    xc = transform.a * (np.arange(values.shape[1]) + 0.5) + transform.c
    yc = transform.e * (np.arange(values.shape[0]) + 0.5) + transform.f
    with np.errstate(invalid="ignore"):
        rows, cols = rowcol(transform, x, y, op=np.floor)
    out = np.full(x.shape, np.nan, dtype=np.result_type(values.dtype, np.float32))
    valid = ~np.isnan(values.astype(float))
    if nodata is not None:
        valid &= values != values.dtype.type(nodata)
    for i in range(x.size):
        if radius_x[i] > 0 and radius_y[i] > 0:
            dx = (xc - x[i]) / radius_x[i]
            dy = (yc - y[i]) / radius_y[i]
            take = dx[None, :] * dx[None, :] + dy[:, None] * dy[:, None] <= 1.0
        else:
            take = np.zeros(values.shape, dtype=bool)
        if 0 <= rows[i] < values.shape[0] and 0 <= cols[i] < values.shape[1]:
            take[int(rows[i]), int(cols[i])] = True
        picked = values[take & valid].astype(float)  # row-major order
        if picked.size == 0:
            continue
        if reducer == "max":
            out[i] = picked.max()
        else:
            total = 0.0
            for v in picked:
                total += v
            out[i] = total / picked.size
    return out


@pytest.mark.parametrize("grid", ["4326-north-up", "4326-south-up", "32642-north-up"])
@pytest.mark.parametrize("reducer", ["max", "mean"])
def test_radius_matches_numpy(grid: str, reducer: str) -> None:
    rng = np.random.default_rng(11)
    transform = GRIDS[grid]
    values, nodata = grid_values("float32", rng)
    x, y = points_for(transform, rng)
    pick = rng.permutation(x.size - 6)[: 150 if PURE_PYTHON else 600]
    x, y = np.append(x[pick], x[-6:]), np.append(y[pick], y[-6:])  # + NaN, inf, far points
    cell = abs(transform.a)
    radius_x = rng.choice([0.0, 0.3 * cell, 1.0 * cell, 2.7 * cell, 1e9 * cell], x.size)
    radius_y = radius_x * rng.choice([1.0, 0.5, 1.3], x.size)
    got = sample_within_radius(x, y, values, transform, nodata, radius_x, radius_y, reducer)
    expected = reference_radius(x, y, values, transform, nodata, radius_x, radius_y, reducer)
    np.testing.assert_array_equal(got, expected)
    # Radius 0 is the nearest cell.
    zero = sample_within_radius(x, y, values, transform, nodata, 0.0, 0.0, reducer)
    np.testing.assert_array_equal(zero, sample_nearest(x, y, values, transform, nodata))


#: Grids for the ties, with two whose cell sizes are powers of two: there, a centre whole cells
#: away from a point is exactly on the ellipse (no rounding moves it in or out).
TIE_GRIDS = {
    "4326-north-up": GRIDS["4326-north-up"],
    "3857-north-up": GRIDS["3857-north-up"],
    "dyadic-north-up": Affine(0.25, 0.0, -3.0, 0.0, -0.25, 12.0),
    "dyadic-south-up": Affine(2.0, 0.0, 100.0, 0.0, 2.0, -40.0),
}


@pytest.mark.parametrize("grid", list(TIE_GRIDS))
def test_radius_ties_on_centres_and_corners(grid: str) -> None:
    """Centres exactly on the ellipse: points on centres and corners, radii whole cells."""
    transform = TIE_GRIDS[grid]
    rng = np.random.default_rng(4)
    values, nodata = grid_values("float32", rng)
    rows = rng.integers(-1, SHAPE[0] + 1, 200)
    cols = rng.integers(-1, SHAPE[1] + 1, 200)
    offset = rng.choice([0.0, 0.5], (2, 200))
    x = transform.c + (cols + offset[0]) * transform.a
    y = transform.f + (rows + offset[1]) * transform.e
    cell = abs(transform.a)
    radius = rng.choice([1.0, 2.0, 0.5, np.sqrt(2.0)], 200) * cell
    for reducer in ("max", "mean"):
        got = sample_within_radius(x, y, values, transform, nodata, radius, radius, reducer)
        expected = reference_radius(x, y, values, transform, nodata, radius, radius, reducer)
        np.testing.assert_array_equal(got, expected)


def test_one_zero_radius_is_the_containing_cell() -> None:
    """Where either half-axis is 0 only the containing cell counts, whatever the other one."""
    transform = GRIDS["32642-north-up"]
    values, nodata = grid_values("float32", np.random.default_rng(7))
    x, y = points_for(transform, np.random.default_rng(8))
    x, y = x[:300], y[:300]
    nearest = sample_nearest(x, y, values, transform, nodata)
    cell = abs(transform.a)
    for rx, ry in ((0.0, 2.5 * cell), (2.5 * cell, 0.0)):
        for reducer in ("max", "mean"):
            got = sample_within_radius(x, y, values, transform, nodata, rx, ry, reducer)
            np.testing.assert_array_equal(got, nearest)


def test_radius_window_offsets() -> None:
    rng = np.random.default_rng(2)
    transform = GRIDS["4326-north-up"]
    values, nodata = grid_values("int16", rng)
    x, y = points_for(transform, rng)
    x, y = x[:500], y[:500]
    window = values[5:30, 8:40]
    r = 1.5 * transform.a
    got = sample_within_radius(x, y, window, transform, nodata, r, r, row_off=5, col_off=8)
    # The same as the full raster with everything outside the window set to no data.
    masked = np.full_like(values, nodata)
    masked[5:30, 8:40] = window
    expected = sample_within_radius(x, y, masked, transform, nodata, r, r)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32


def test_rejects_bad_arguments() -> None:
    values = np.zeros(SHAPE, dtype=np.float32)
    transform = GRIDS["4326-north-up"]
    with pytest.raises(ValueError, match="degenerate"):
        sample_nearest([0.0], [0.0], values, (0.0, 0.0, 1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="2-D"):
        sample_nearest([0.0], [0.0], values[None], transform)
    with pytest.raises(ValueError, match="out"):
        sample_nearest([0.0, 1.0], [0.0, 1.0], values, transform, out=np.empty(3))
    with pytest.raises(ValueError, match="north-up"):
        sample_within_radius([0.0], [0.0], values, Affine(1, 0.1, 0, 0, -1, 0), None, 1, 1)
    with pytest.raises(ValueError, match=">= 0"):
        sample_within_radius([0.0], [0.0], values, transform, None, -1.0, 1.0)
    with pytest.raises(ValueError, match="reducer"):
        sample_within_radius([0.0], [0.0], values, transform, None, 1.0, 1.0, "median")


_sizes = st.sampled_from([0.0025, 0.01, 1 / 3, 30.0, 92.766, 611.49622628141, 0.1])


@settings(max_examples=30 if PURE_PYTHON else 200, deadline=None)
@given(
    size_x=_sizes,
    size_y=_sizes,
    flip_x=st.booleans(),
    south_up=st.booleans(),
    origin=st.tuples(st.floats(-1e7, 1e7), st.floats(-1e7, 1e7)),
    cells=st.lists(
        st.tuples(
            st.integers(-3, 12),
            st.integers(-3, 12),
            st.sampled_from([0.0, 0.5, 1e-9, 0.999999999, 1.0]),
            st.sampled_from([0.0, 0.5, 1e-9, 0.999999999, 1.0]),
        ),
        min_size=1,
        max_size=50,
    ),
)
def test_hypothesis_matches_rowcol(
    size_x: float,
    size_y: float,
    flip_x: bool,
    south_up: bool,
    origin: tuple[float, float],
    cells: list[tuple[int, int, float, float]],
) -> None:
    transform = Affine(
        -size_x if flip_x else size_x, 0.0, origin[0], 0.0, size_y if south_up else -size_y,
        origin[1],
    )  # fmt: skip
    values = np.arange(10 * 9, dtype=np.float32).reshape(10, 9)
    col = np.array([c[0] + c[2] for c in cells])
    row = np.array([c[1] + c[3] for c in cells])
    x = transform.c + col * transform.a
    y = transform.f + row * transform.e
    got = sample_nearest(x, y, values, transform)
    np.testing.assert_array_equal(got, reference_sample(x, y, values, transform, None))
