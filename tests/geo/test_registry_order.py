"""Hilbert keys and the spatial order of households (the one implementation, used by imports
and by the engine)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rahat.geo.registry.order import hilbert_keys, spatial_order


def test_hilbert_keys_full_order_clamps_and_nan() -> None:
    bounds = (60.9, 23.7, 77.8, 37.1)
    x = np.array([60.9, 77.8, 100.0, -1e300, np.nan, 70.0, np.inf])
    y = np.array([23.7, 37.1, 30.0, 30.0, 30.0, np.nan, 30.0])
    keys = hilbert_keys(x, y, bounds, order=16)
    assert keys.dtype == np.uint32
    assert keys[0] == 0  # lower left corner starts the curve
    assert keys[4] == keys[5] == 2**32 - 1
    east = hilbert_keys(np.array([77.8]), np.array([30.0]), bounds, order=16)[0]
    assert keys[2] == east == keys[6]  # clamped to the edge, +inf too
    with pytest.raises(ValueError, match="order"):
        hilbert_keys(x, y, bounds, order=17)
    with pytest.raises(ValueError, match="length"):
        hilbert_keys(x, y[:3], bounds)


def test_spatial_order_is_a_stable_permutation() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    x = rng.uniform(60.9, 77.8, n)
    y = rng.uniform(23.7, 37.1, n)
    x[:50] = np.nan
    order = spatial_order(x, y)
    assert order.dtype == np.int64
    assert np.array_equal(np.sort(order), np.arange(n))
    assert set(order[-50:].tolist()) == set(range(50))  # NaN last
    finite = np.isfinite(x)
    bounds = (x[finite].min(), y[finite].min(), x[finite].max(), y[finite].max())
    keys = hilbert_keys(x, y, bounds, order=11)
    assert np.array_equal(order, np.argsort(keys, kind="stable"))
    # Neighbours in the order are neighbours on the ground.
    sorted_x, sorted_y = x[order][:-50], y[order][:-50]
    step = np.hypot(np.diff(sorted_x), np.diff(sorted_y))
    assert np.median(step) < 0.2 < 5 < np.median(np.hypot(np.diff(x[50:]), np.diff(y[50:])))
    assert spatial_order(np.array([]), np.array([])).shape == (0,)
    assert spatial_order(np.array([np.nan]), np.array([1.0])).tolist() == [0]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), min_size=0, max_size=40),
)
def test_hypothesis_spatial_order_permutes(points: list[tuple[float, float]]) -> None:
    pts = np.array(points, dtype=float).reshape(-1, 2)
    order = spatial_order(pts[:, 0], pts[:, 1])
    assert np.array_equal(np.sort(order), np.arange(len(points)))
