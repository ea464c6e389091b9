"""Sums of non-negative integer columns by admin unit, with bin counts instead of a groupby.

A national caseload has millions of rows and a few thousand units: counting into one bin per
combination of category codes (:func:`numpy.bincount`) is several times faster than pandas'
``groupby`` on categorical keys, and gives the same sums and the same groups (every combination
that occurs, a missing key being a group of its own, as ``groupby(observed=True,
dropna=False)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Largest number of bins counted directly; beyond it the combinations are numbered first.
MAX_BINS = 50_000_000
#: Sums in float64 bin counts are exact below this (every partial sum is an exact integer).
_EXACT = 2**53


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Category codes of ``column`` (missing: the code after the last) and its categories."""
    cat = column.array if isinstance(column.dtype, pd.CategoricalDtype) else None
    if not isinstance(cat, pd.Categorical):
        cat = pd.Categorical(column)
    n = len(cat.categories)
    codes = np.asarray(cat.codes, dtype=np.int64)
    return np.where(codes >= 0, codes, n), cat.categories


def bin_sums(bins: np.ndarray, values: np.ndarray, n_bins: int) -> np.ndarray:
    """Exact int64 sums of the non-negative integer (or boolean) ``values`` per bin."""
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(n_bins, dtype=np.int64)
    if values.dtype == bool:
        return np.bincount(bins, weights=values, minlength=n_bins).astype(np.int64)
    if int(values.max(initial=0)) * len(values) < _EXACT:  # every partial sum is exact
        return np.bincount(bins, weights=values, minlength=n_bins).astype(np.int64)
    out = np.zeros(n_bins, dtype=np.int64)
    np.add.at(out, bins, values.astype(np.int64))
    return out


def unit_sums(
    keys: dict[str, pd.Series],
    values: dict[str, np.ndarray],
    first: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Sums of ``values`` per combination of ``keys`` that occurs.

    Parameters
    ----------
    keys
        Key columns (categorical, or turned into one) by name, all of the same length.
    values
        Non-negative integer (or boolean) columns of the same length, by name.
    first
        Columns of which each group takes its first non-missing value (e.g. a unit's P-code).

    Returns
    -------
    pandas.DataFrame
        One row per combination of keys present (a missing key is ``None``): the keys as
        Python objects, the int64 sums, then the ``first`` values (``None`` where a group has
        none), in the order of the combinations' codes.
    """
    coded = [_codes(column) for column in keys.values()]
    sizes = [len(categories) + 1 for _, categories in coded]
    key = np.zeros(len(next(iter(keys.values()))), dtype=np.int64)
    for (codes, _), size in zip(coded, sizes, strict=True):
        key = key * size + codes
    n_bins = int(np.prod(sizes, dtype=np.int64)) if sizes else 1
    if n_bins > MAX_BINS:  # number the combinations that occur instead
        combos, key = np.unique(key, return_inverse=True)
        key = key.reshape(-1)
        present = combos
        bins = len(combos)
        used = np.arange(bins)
    else:
        bins = n_bins
        used = np.flatnonzero(np.bincount(key, minlength=bins))
        present = used
    out: dict[str, object] = {}
    rest = present.copy()
    decoded: list[np.ndarray] = []
    for size in reversed(sizes):
        decoded.append(rest % size)
        rest //= size
    for (name, _), (_, categories), codes in zip(
        keys.items(), coded, reversed(decoded), strict=True
    ):
        labels = np.asarray(categories.astype(object), dtype=object)
        table = np.append(labels, np.array([None], dtype=object))
        out[name] = pd.Series(table[codes], dtype=object)  # not inferred as text: None stays
    for name, column in values.items():
        out[name] = bin_sums(key, column, bins)[used]
    for name, series in (first or {}).items():
        out[name] = pd.Series(_first(key, series, bins)[used], dtype=object)
    return pd.DataFrame(out)


def _first(bins: np.ndarray, column: pd.Series, n_bins: int) -> np.ndarray:
    """The first non-missing value of ``column`` in each bin (``None`` where there is none)."""
    rows = np.flatnonzero(column.notna().to_numpy())
    first = np.full(n_bins, len(column), dtype=np.int64)
    np.minimum.at(first, bins[rows], rows)
    values = np.append(column.astype(object).to_numpy(dtype=object), np.array([None], object))
    return values[first]
