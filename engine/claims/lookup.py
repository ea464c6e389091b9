"""Array look-ups of a claims check: sorted search and case-folded unit names.

Both work on whole arrays: :func:`find_sorted` sorts the keys first, so that
``np.searchsorted`` walks the sorted values once instead of jumping at random (a million
claims against forty million households); :func:`fold_codes` folds each distinct text once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def find_sorted(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in the sorted ``values`` of each key, and whether the key is there.

    Examples
    --------
    >>> pos, found = find_sorted(np.array([2, 5, 9]), np.array([9, 4, 2]))
    >>> pos[found].tolist(), found.tolist()
    ([2, 0], [True, False, True])
    """
    if len(values) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    order = np.argsort(keys, kind="stable")
    pos = np.empty(len(keys), dtype=np.int64)
    pos[order] = np.searchsorted(values, keys[order])
    np.minimum(pos, len(values) - 1, out=pos)
    return pos, values[pos] == keys


def fold_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each value and the stripped, case-folded distinct texts (``""`` last, code -1).

    Missing values get code -1, which indexes the trailing ``""``.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    folded = pd.Series(uniques, dtype=object).astype(str).str.strip().str.casefold()
    return codes, np.append(folded.to_numpy(dtype=object), "")


def casefold(values: np.ndarray) -> np.ndarray:
    """Stripped, case-folded text of each value (``""`` for a missing one), as objects."""
    codes, folded = fold_codes(values)
    return folded[codes]
