"""Two runs side by side, per province or district, with suppression consistent with summaries.

The selected counts of each run are shown exactly where that run's own summary shows them
(:func:`rahat.api.service.aggregates.published`), so no endpoint reveals a cell another one
blanks. The households added, dropped and kept form a block per unit: it is blanked when either
run's count of the unit is blanked or when one of the three is in ``1..k-1``, and complementary
blocks are blanked over national -> province -> district exactly as for summaries.

A comparison reads no caseload: each finished run stores a compact index of its households
(:data:`INDEX_FILE`: ids, admin units, the selected rows) at job end, and the comparison of
two indexes gives exactly what :func:`rahat.engine.targeting.compare_caseloads` gives on the
two caseloads. A run without the file (an older one) gets it on its first comparison.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.api.service.aggregates import published, unit_codes
from rahat.api.service.lru import LRUCache
from rahat.api.service.storage import atomic_write_bytes
from rahat.api.service.suppression import complete_suppression, is_small

#: Caseload columns that :func:`rahat.engine.targeting.compare_caseloads` reads.
COMPARE_COLUMNS = ["household_id", "province", "district", "selected", "exposed", "amount"]
#: Counts of a unit's comparison block.
BLOCK = ("added", "dropped", "kept")
#: Levels a comparison can be shown at, with their keys.
COMPARE_LEVELS: dict[str, list[str]] = {
    "province": ["province"],
    "district": ["province", "district"],
}
#: File name of a run's comparison index, next to its caseload.
INDEX_FILE = "compare_index.npz"

_INDEX_CACHE: LRUCache[tuple[str, int], CompareIndex] = LRUCache(8)


@dataclass(frozen=True)
class CompareIndex:
    """What a comparison needs of one run's caseload, without its other columns.

    Attributes
    ----------
    ids
        Sorted unique household ids of every caseload row.
    unit
        Index into ``provinces``/``districts`` of each of ``ids`` (its first row).
    selected
        Sorted ids of the selected rows.
    selected_unit
        Unit index of each of ``selected`` (its own row).
    provinces, districts
        Admin units (as strings) of the caseload's rows, each pair once, sorted.
    """

    ids: np.ndarray
    unit: np.ndarray
    selected: np.ndarray
    selected_unit: np.ndarray
    provinces: np.ndarray
    districts: np.ndarray


def build_index(caseload: Path) -> CompareIndex:
    """Read the :class:`CompareIndex` of ``caseload.parquet`` (the compared columns only)."""
    frame = pd.read_parquet(caseload, columns=COMPARE_COLUMNS)
    ids = frame["household_id"].to_numpy(np.int64)
    keys = pd.DataFrame(
        {
            "province": frame["province"].astype(str).to_numpy(),
            "district": frame["district"].astype(str).to_numpy(),
        }
    )
    codes, uniques = pd.MultiIndex.from_frame(keys).factorize(sort=True)
    codes = np.asarray(codes, dtype=np.int32)
    unique_ids, first = np.unique(ids, return_index=True)
    chosen = frame["selected"].to_numpy(dtype=bool)
    order = np.argsort(ids[chosen], kind="stable")
    return CompareIndex(
        ids=unique_ids,
        unit=codes[first],
        selected=ids[chosen][order],
        selected_unit=codes[chosen][order],
        provinces=np.asarray([u[0] for u in uniques], dtype=str),
        districts=np.asarray([u[1] for u in uniques], dtype=str),
    )


def write_index(run_dir: Path) -> CompareIndex:
    """Build the comparison index of ``run_dir/caseload.parquet`` and store it next to it."""
    caseload = run_dir / "caseload.parquet"
    index = build_index(caseload)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        stamp=np.int64(caseload.stat().st_mtime_ns),
        **{name: getattr(index, name) for name in CompareIndex.__dataclass_fields__},
    )
    atomic_write_bytes(run_dir / INDEX_FILE, buffer.getvalue())
    return index


def store_index(run_dir: Path) -> bool:
    """Store the comparison index of a finished run's caseload, if it can be compared.

    Returns
    -------
    bool
        Whether it was stored (``False``: the caseload lacks a compared column).
    """
    import pyarrow.parquet as pq

    names = set(pq.read_schema(run_dir / "caseload.parquet").names)
    if not names.issuperset(COMPARE_COLUMNS):
        return False
    write_index(run_dir)
    return True


def load_index(run_dir: Path) -> CompareIndex:
    """The comparison index of the run in ``run_dir``, stored (and cached) on first use."""
    stamp = (run_dir / "caseload.parquet").stat().st_mtime_ns
    key = (str(run_dir), stamp)
    hit = _INDEX_CACHE.get(key)
    if hit is not None:
        return hit
    index: CompareIndex | None = None
    path = run_dir / INDEX_FILE
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            if int(stored["stamp"]) == stamp:
                index = CompareIndex(
                    **{name: stored[name] for name in CompareIndex.__dataclass_fields__}
                )
    if index is None:
        index = write_index(run_dir)
    _INDEX_CACHE.put(key, index)
    return index


def compare_indexes(a: CompareIndex, b: CompareIndex) -> tuple[pd.DataFrame, dict[str, int]]:
    """Selected households of ``b`` against baseline ``a``, per province/district and in all.

    Exactly the ``by_district`` households, added, dropped and kept, and the selected, added,
    dropped and kept totals of :func:`rahat.engine.targeting.compare_caseloads`: a household
    counts in the unit of its row in ``a`` if ``a`` considered it, else of its row in ``b``.

    Returns
    -------
    tuple
        ``(by_district, totals)``: a frame with ``province``, ``district``, ``a_households``,
        ``b_households``, ``added``, ``dropped`` and ``kept``; ``a_selected``, ``b_selected``,
        ``added``, ``dropped`` and ``kept``.
    """
    in_b = np.isin(a.selected, b.selected, assume_unique=True)
    in_a = np.isin(b.selected, a.selected, assume_unique=True)
    units = pd.MultiIndex.from_arrays(
        [np.concatenate([a.provinces, b.provinces]), np.concatenate([a.districts, b.districts])]
    )
    codes, names = units.factorize(sort=True)
    to_a, to_b = codes[: len(a.provinces)], codes[len(a.provinces) :]
    n = len(names)

    # kept and dropped households count in their unit in a; added ones in a's unit of them
    # if a considered them (as compare_caseloads takes a's row first), else in b's
    kept_units = to_a[a.unit[np.searchsorted(a.ids, a.selected)]]
    added = b.selected[~in_a]
    position = np.searchsorted(a.ids, added)
    known = position < len(a.ids)
    known[known] = a.ids[position[known]] == added[known]
    added_units = np.empty(len(added), dtype=np.int64)
    added_units[known] = to_a[a.unit[position[known]]]
    added_units[~known] = to_b[b.unit[np.searchsorted(b.ids, added[~known])]]
    table = pd.DataFrame(
        {
            "province": [name[0] for name in names],
            "district": [name[1] for name in names],
            "a_households": _count(to_a[a.selected_unit], n),
            "b_households": _count(to_b[b.selected_unit], n),
            "added": _count(added_units, n),
            "dropped": _count(kept_units[~in_b], n),
            "kept": _count(kept_units[in_b], n),
        }
    )
    totals = {
        "a_selected": len(a.selected),
        "b_selected": len(b.selected),
        "added": int((~in_a).sum()),
        "dropped": int((~in_b).sum()),
        "kept": int(in_b.sum()),
    }
    return table, totals


def _count(codes: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(np.asarray(codes, dtype=np.int64), minlength=n).astype(np.int64)


def _selected_shown(run_dir: Path, k: int) -> dict[tuple[str, ...], bool]:
    """Whether the run's summary shows ``selected`` of each unit (key ``()``: the nation)."""
    view = published(run_dir, k)
    shown: dict[tuple[str, ...], bool] = {(): not view["totals"]["suppressed"]}
    for level, keys in COMPARE_LEVELS.items():
        for row in view["levels"][level]:
            key = tuple(str(row[name]) for name in keys)
            shown[key] = shown.get(key, True) and not row["suppressed"]
    return shown


def _rows(by_district: pd.DataFrame, totals: dict[str, Any]) -> list[dict[str, Any]]:
    """National, province and district rows of the comparison, each with its key."""
    counts = ["a_households", "b_households", *BLOCK]
    nation = {
        "key": (),
        "a_households": totals["a_selected"],
        "b_households": totals["b_selected"],
        **{name: totals[name] for name in BLOCK},
    }
    rows = [nation]
    for keys in COMPARE_LEVELS.values():
        table = by_district.groupby(keys, sort=True)[counts].sum().reset_index()
        for record in table.to_dict(orient="records"):
            key = tuple(str(record[name]) for name in keys)
            rows.append({"key": key, **{name: int(record[name]) for name in counts}})
    return rows


def compare_runs(dir_a: Path, dir_b: Path, level: str, k: int | None) -> dict[str, Any]:
    """Compare the selected caseloads of two finished runs.

    Parameters
    ----------
    dir_a, dir_b
        Artifact folders of the baseline run and of the other run.
    level
        ``province`` or ``district``.
    k
        Suppression threshold; ``None`` shows every figure.

    Returns
    -------
    dict
        ``level``, ``k``, ``overlap`` (nation) and ``units``, figures ``None`` where blanked.
    """
    by_district, totals = compare_indexes(load_index(dir_a), load_index(dir_b))
    rows = _rows(by_district, totals)
    position = {row["key"]: i for i, row in enumerate(rows)}
    parents = [position[row["key"][:-1]] if row["key"] else -1 for row in rows]
    if k is None:
        shown_a = shown_b = {row["key"]: True for row in rows}
        blocked = [False] * len(rows)
    else:
        shown_a, shown_b = _selected_shown(dir_a, k), _selected_shown(dir_b, k)
        primary = [
            not shown_a.get(row["key"], True)
            or not shown_b.get(row["key"], True)
            or any(is_small(row[name], k) for name in BLOCK)
            for row in rows
        ]
        sizes = [row["a_households"] + row["b_households"] for row in rows]
        blocked = list(complete_suppression(parents, sizes, primary))

    def figures(i: int) -> dict[str, Any]:
        row = rows[i]
        a = row["a_households"] if shown_a.get(row["key"], True) else None
        b = row["b_households"] if shown_b.get(row["key"], True) else None
        block = {name: None if blocked[i] else row[name] for name in BLOCK}
        change = None if a is None or b is None else b - a
        return {"selected_a": a, "selected_b": b, "change": change, **block}

    keys = COMPARE_LEVELS[level]
    named = [
        (dict(zip(keys, rows[i]["key"], strict=True)), i)
        for i in range(len(rows))
        if len(rows[i]["key"]) == len(keys)
    ]
    codes = unit_codes([unit for unit, _ in named], level)
    units = [
        unit | {"code": code} | figures(i) for (unit, i), code in zip(named, codes, strict=True)
    ]
    nation = figures(0)
    overlap = {
        "selected_a": nation["selected_a"],
        "selected_b": nation["selected_b"],
        "in_both": nation["kept"],
        "only_a": nation["dropped"],
        "only_b": nation["added"],
    }
    return {"level": level, "k": k, "overlap": overlap, "units": units}
