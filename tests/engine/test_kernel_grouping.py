"""Group positions kernel: exactly the positions of the three-key ``np.lexsort`` formulation."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from rahat.engine.kernels.grouping import group_positions

#: NUMBA_DISABLE_JIT=1 runs the kernels as Python: smaller inputs.
PURE_PYTHON = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]
N_ITEMS = 2_000 if PURE_PYTHON else 50_000


def reference_positions(
    codes: np.ndarray, values: np.ndarray, tiebreak: np.ndarray, n_groups: int
) -> np.ndarray:
    """The formulation the kernel replaces (rules.bottom_percent before the kernel)."""
    order = np.lexsort((tiebreak, values, codes))
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(n_groups))
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order)) - starts[np.clip(sorted_codes, 0, None)]
    return pos


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_groups", [1, 3, 40])
def test_matches_lexsort_with_many_ties(seed: int, n_groups: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-1, n_groups, N_ITEMS).astype(np.int32)
    values = np.round(rng.random(N_ITEMS) * 100, 1).astype(np.float32)
    # Few distinct hashes that share their upper 32 bits: runs of equal composite keys,
    # and some equal full hashes (input order must decide).
    tiebreak = (rng.integers(0, 8, N_ITEMS).astype(np.uint64) << np.uint64(40)) | rng.integers(
        0, 4, N_ITEMS
    ).astype(np.uint64)
    got = group_positions(codes, values, tiebreak, n_groups)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, reference_positions(codes, values, tiebreak, n_groups))


def test_matches_lexsort_with_full_hashes() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(-1, 7, N_ITEMS).astype(np.int32)
    values = rng.random(N_ITEMS).astype(np.float32) * 100
    tiebreak = rng.integers(0, 2**63, N_ITEMS, dtype=np.int64).view(np.uint64) * np.uint64(2)
    got = group_positions(codes, values, tiebreak, 7)
    np.testing.assert_array_equal(got, reference_positions(codes, values, tiebreak, 7))


def test_special_values_sort_like_numpy() -> None:
    values = np.array([0.0, -0.0, np.nan, np.inf, -1.5, 100.0, -np.nan, 0.0], dtype=np.float32)
    codes = np.zeros(len(values), dtype=np.int32)
    tiebreak = np.array([5, 3, 9, 1, 2, 2, 1, 3], dtype=np.uint64)
    got = group_positions(codes, values, tiebreak, 1)
    np.testing.assert_array_equal(got, reference_positions(codes, values, tiebreak, 1))


def test_no_group_items_only_and_empty() -> None:
    codes = np.full(5, -1, dtype=np.int32)
    values = np.array([3, 1, 2, 1, 0], dtype=np.float32)
    tiebreak = np.array([1, 2, 3, 1, 9], dtype=np.uint64)
    np.testing.assert_array_equal(
        group_positions(codes, values, tiebreak, 2), reference_positions(codes, values, tiebreak, 2)
    )
    empty = group_positions(
        np.empty(0, np.int32), np.empty(0, np.float32), np.empty(0, np.uint64), 3
    )
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_rejects_codes_out_of_range() -> None:
    with pytest.raises(ValueError, match="group codes"):
        group_positions(np.array([0, 3]), np.zeros(2, np.float32), np.zeros(2, np.uint64), 3)
