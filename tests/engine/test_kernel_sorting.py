"""The radix argsort equals NumPy's stable argsort, and the ranking equals ``np.lexsort``."""

from __future__ import annotations

import numpy as np
import pytest

from rahat.engine.kernels.sorting import radix_argsort
from rahat.engine.targeting.ranking import descending_keys, keyed_hash, rank_order
from rahat.geo import jit as _jit


def _keys(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) * np.uint64(2)
    if kind == "few":  # many equal keys: stability decides
        return rng.integers(0, 5, n).astype(np.uint64) << np.uint64(40)
    if kind == "one_digit":  # only the lowest 16 bits differ: the other passes are skipped
        return rng.integers(0, 1 << 16, n).astype(np.uint64) | np.uint64(0xABCD << 48)
    if kind == "top_digit":  # only the highest 16 bits differ
        return rng.integers(0, 1 << 16, n).astype(np.uint64) << np.uint64(48)
    return np.full(n, 7, dtype=np.uint64)  # all equal


@pytest.mark.parametrize("kind", ["random", "few", "one_digit", "top_digit", "equal"])
@pytest.mark.parametrize("n", [0, 1, 2, 37, 3000])
def test_radix_argsort_equals_the_stable_argsort(kind: str, n: int) -> None:
    rng = np.random.default_rng(n)
    keys = _keys(kind, n, rng)
    assert radix_argsort(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def test_radix_argsort_sorts_the_given_positions_keeping_their_order_for_ties() -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 4, 500).astype(np.uint64)
    order = rng.permutation(500)[:300]
    want = order[np.argsort(keys[order], kind="stable")]
    assert radix_argsort(keys, order).tolist() == want.tolist()


def test_radix_argsort_reads_signed_keys_as_unsigned() -> None:
    keys = np.array([-1, 0, 1, np.iinfo(np.int64).min], dtype=np.int64)
    assert radix_argsort(keys).tolist() == [1, 2, 3, 0]  # -1 is 2**64 - 1, the largest


def test_descending_keys_order_scores_high_to_low_with_minus_zero_as_zero() -> None:
    scores = np.array([0.5, -0.0, 0.0, -1.5, 1.0, 1e-300, -1e-300, 2.0])
    keys = descending_keys(scores)
    order = np.argsort(keys, kind="stable")
    assert order.tolist() == np.argsort(-scores, kind="stable").tolist()
    assert keys[1] == keys[2]  # -0.0 and 0.0 are one score


@pytest.mark.parametrize("ready", [False, True], ids=["numpy", "kernel"])
@pytest.mark.parametrize("levels", [0, 3, 50])
def test_rank_order_equals_lexsort(monkeypatch, levels: int, ready: bool) -> None:
    monkeypatch.setattr(_jit, "_READY", ready)  # NumPy's merge sorts, or the radix kernel
    rng = np.random.default_rng(levels)
    n = 4000
    scores = rng.random(n) if levels == 0 else rng.integers(0, levels, n) / max(levels, 1)
    scores[:4] = [-0.0, 0.0, -2.0, 1.0]
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    tiebreak = keyed_hash(ids, 9)
    want = np.lexsort((ids, tiebreak, -scores))
    assert rank_order(scores, tiebreak, ids).tolist() == want.tolist()


@pytest.mark.parametrize("ready", [False, True], ids=["numpy", "kernel"])
def test_rank_order_falls_back_to_lexsort_on_a_hash_collision(monkeypatch, ready: bool) -> None:
    monkeypatch.setattr(_jit, "_READY", ready)
    tiebreak = np.array([5, 9, 5, 1], dtype=np.uint64)
    ids = np.array([40, 10, 30, 20], dtype=np.int64)
    scores = np.array([1.0, 1.0, 1.0, 0.5])
    want = np.lexsort((ids, tiebreak, -scores))
    assert rank_order(scores, tiebreak, ids).tolist() == want.tolist() == [2, 0, 1, 3]
