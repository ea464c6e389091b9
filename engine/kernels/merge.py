"""Merge of sorted runs by three keys: the reduce of a ranking computed partition by partition.

A cluster ranks each partition's households on its own worker
(:mod:`rahat.engine.distributed.ranking`); the global order is the merge of those sorted runs.
The order is the ranking's total order (:func:`rahat.engine.targeting.ranking.rank_order`):
ascending ``first`` (the score's descending key), then ``second`` (the keyed hash), then
``third`` (the household id). :func:`merge_runs` gives exactly
``np.lexsort((third, second, first))`` when every run is sorted so, by merging runs two at a
time (``log2(runs)`` linear passes rather than a sort).
"""

from __future__ import annotations

import itertools

import numpy as np

from rahat.geo.jit import kernel


@kernel
def _merge_pair(
    first: np.ndarray,
    second: np.ndarray,
    third: np.ndarray,
    order: np.ndarray,
    lo: int,
    mid: int,
    hi: int,
    out: np.ndarray,
) -> None:
    """Merge ``order[lo:mid]`` and ``order[mid:hi]`` (each sorted) into ``out[lo:hi]``."""
    i, j, k = lo, mid, lo
    while i < mid and j < hi:
        a, b = order[i], order[j]
        take_b = first[b] < first[a] or (
            first[b] == first[a]
            and (second[b] < second[a] or (second[b] == second[a] and third[b] < third[a]))
        )
        if take_b:
            out[k] = b
            j += 1
        else:
            out[k] = a
            i += 1
        k += 1
    while i < mid:
        out[k] = order[i]
        i += 1
        k += 1
    while j < hi:
        out[k] = order[j]
        j += 1
        k += 1


def merge_runs(
    first: np.ndarray, second: np.ndarray, third: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """Positions that order all keys, given runs ``bounds[r]:bounds[r + 1]`` each in order.

    Parameters
    ----------
    first, second
        uint64 keys (ascending), one per item.
    third
        int64 keys (ascending), the last tie-break.
    bounds
        Run boundaries: ``0 = bounds[0] <= ... <= bounds[-1] = len(first)``; the items of each
        run are already in order.

    Returns
    -------
    numpy.ndarray
        int64 positions into the keys, in order; equal to
        ``np.lexsort((third, second, first))`` (a stable merge, earlier runs first on a full tie).
    """
    n = len(first)
    edges = [int(b) for b in bounds]
    if edges[0] != 0 or edges[-1] != n or any(b < a for a, b in itertools.pairwise(edges)):
        raise ValueError("run bounds must rise from 0 to the number of items")
    order = np.arange(n, dtype=np.int64)
    spare = np.empty(n, dtype=np.int64)
    first = np.ascontiguousarray(first, dtype=np.uint64)
    second = np.ascontiguousarray(second, dtype=np.uint64)
    third = np.ascontiguousarray(third, dtype=np.int64)
    while len(edges) > 2:
        merged = [edges[0]]
        for r in range(0, len(edges) - 1, 2):
            lo, mid = edges[r], edges[r + 1]
            hi = edges[r + 2] if r + 2 < len(edges) else mid
            _merge_pair(first, second, third, order, lo, mid, hi, spare)
            merged.append(hi)
        order, spare = spare, order
        edges = merged
    return order
