"""Position of every item within its group, ordered by a float32 value then a uint64 hash.

:func:`group_positions` gives the same answer as the NumPy formulation

.. code-block:: python

    order = np.lexsort((tiebreak, values, codes))
    starts = np.searchsorted(codes[order], np.arange(n_groups))
    pos[order] = np.arange(n) - starts[np.clip(codes[order], 0, None)]

(items with code -1 get ``rank among the -1 items - number of -1 items``, a negative number),
in O(n) grouping plus one sort per group instead of a three-key sort of everything:

1. a stable counting sort of the item indices by group code;
2. per group (in parallel), a sort by the composite key ``(value bits << 32) | (hash >> 32)``,
   where the value bits are the float32 IEEE pattern mapped so that unsigned order is numeric
   order (``-0.0`` counts as ``0.0``, every NaN as one NaN after ``+inf``, as NumPy sorts);
3. runs of equal composite keys (rare) re-ordered by the full hash, then by index, by insertion
   sort (so equal hashes keep input order, as the stable ``lexsort`` does);
4. positions written back per item.
"""

from __future__ import annotations

import numpy as np

from rahat.geo.jit import kernel, parallel_kernel, prange


@kernel
def _bucket(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort of item indices by ``code + 1``; returns (order, group starts)."""
    starts = np.zeros(n_groups + 2, dtype=np.int64)
    for i in range(len(codes)):
        starts[codes[i] + 2] += 1
    for g in range(1, n_groups + 2):
        starts[g] += starts[g - 1]
    fill = starts[:-1].copy()
    order = np.empty(len(codes), dtype=np.int64)
    for i in range(len(codes)):
        g = codes[i] + 1
        order[fill[g]] = i
        fill[g] += 1
    return order, starts


@kernel
def _sortable(bits: int) -> int:
    """Map float32 bits to an unsigned key in NumPy's sort order (``-0 == 0``, NaN last)."""
    b = int(bits)
    if (b & 0x7F800000) == 0x7F800000 and (b & 0x007FFFFF) != 0:
        return 0xFFC00000  # every NaN: after +inf
    if b == 0x80000000:
        return 0x80000000  # -0.0 sorts with 0.0
    if b & 0x80000000:
        return 0xFFFFFFFF - b
    return b | 0x80000000


@parallel_kernel
def _positions(
    order: np.ndarray, starts: np.ndarray, value_bits: np.ndarray, tiebreak: np.ndarray
) -> np.ndarray:
    """Sort each group's slice of ``order`` by (value, tiebreak, index); write positions."""
    n_buckets = len(starts) - 1
    pos = np.empty(len(order), dtype=np.int64)
    offset_missing = starts[1] - starts[0]  # bucket 0 holds the code -1 items
    for g in prange(n_buckets):
        lo = starts[g]
        hi = starts[g + 1]
        m = hi - lo
        if m == 0:
            continue
        members = order[lo:hi]
        local = np.empty(m, dtype=np.uint64)
        for j in range(m):
            i = members[j]
            high = np.uint64(_sortable(value_bits[i])) << np.uint64(32)
            local[j] = high | (tiebreak[i] >> np.uint64(32))
        perm = np.argsort(local)
        idx = np.empty(m, dtype=np.int64)
        sorted_keys = np.empty(m, dtype=np.uint64)
        for j in range(m):
            idx[j] = members[perm[j]]
            sorted_keys[j] = local[perm[j]]
        # Runs of equal composite keys: insertion sort by (full hash, index).
        j = 0
        while j < m:
            end = j + 1
            while end < m and sorted_keys[end] == sorted_keys[j]:
                end += 1
            if end - j > 1:
                for a in range(j + 1, end):
                    item = idx[a]
                    h = tiebreak[item]
                    b = a - 1
                    while b >= j and (
                        tiebreak[idx[b]] > h or (tiebreak[idx[b]] == h and idx[b] > item)
                    ):
                        idx[b + 1] = idx[b]
                        b -= 1
                    idx[b + 1] = item
            j = end
        shift = offset_missing if g == 0 else 0
        for j in range(m):
            pos[idx[j]] = j - shift
    return pos


def group_positions(
    codes: np.ndarray, values: np.ndarray, tiebreak: np.ndarray, n_groups: int
) -> np.ndarray:
    """Return each item's position within its group, by ``values`` ascending then ``tiebreak``.

    Parameters
    ----------
    codes
        Group code per item, ``0 <= code < n_groups``, or -1 for no group (any integer dtype).
    values
        Float32 value per item (the primary sort key; NaN sorts last).
    tiebreak
        uint64 secondary key per item; equal pairs keep input order.
    n_groups
        Number of groups.

    Returns
    -------
    numpy.ndarray
        int64 position per item: 0 for the first item of its group. Items with code -1 are
        ranked among themselves the same way and get ``rank - (number of -1 items)`` (negative).
    """
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype(np.int64)
    if len(codes) == 0:
        return np.empty(0, dtype=np.int64)
    if codes.min() < -1 or codes.max() >= n_groups:
        raise ValueError(f"group codes must lie in [-1, {n_groups})")
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    hashes = np.ascontiguousarray(tiebreak, dtype=np.uint64)
    order, starts = _bucket(codes, int(n_groups))
    result: np.ndarray = _positions(order, starts, bits, hashes)
    return result
