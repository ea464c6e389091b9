"""Aggregates of a caseload by admin unit, with small-cell (k-anonymity) suppression."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rahat.api.service.lru import LRUCache
from rahat.api.service.storage import atomic_write_bytes
from rahat.api.service.suppression import complete_suppression, row_is_sensitive

#: Grouping keys of each summary level.
LEVELS: dict[str, tuple[str, ...]] = {
    "province": ("province",),
    "district": ("province", "district", "district_pcode"),
    "tehsil": ("province", "district", "district_pcode", "tehsil", "tehsil_pcode"),
}
#: Count cells; a count below k is suppressed.
COUNTS: tuple[str, ...] = ("households", "eligible", "selected")
#: Sums over the selected households, suppressed together with ``selected``.
SELECTED_SUMS: tuple[str, ...] = ("persons_selected", "benefit")
#: File name of the cached aggregates in a run's artifact folder.
AGGREGATES_FILE = "aggregates.json"

#: Aggregates by (run folder, caseload stamp).
_CACHE: LRUCache[tuple[str, int], dict[str, Any]] = LRUCache(64)
#: Published views by (run folder, caseload stamp, k): suppression is a function of these.
_VIEWS: LRUCache[tuple[str, int, int | None], dict[str, Any]] = LRUCache(256)
#: Unit codes by (level, the units' names): a what-if's units are mostly those of the last one.
_CODES: LRUCache[tuple[str, tuple[tuple[Any, ...], ...]], list[str | None]] = LRUCache(32)
#: Encoded summaries by (run folder, caseload stamp, k, level, tag).
_ENCODED: LRUCache[tuple[str, int, int | None, str, str], bytes] = LRUCache(256)


def _metrics_frame(caseload: Path) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    names = set(pq.read_schema(caseload).names)
    wanted = {"province", "district", "district_pcode", "tehsil", "tehsil_pcode"} | {
        "selected",
        "eligible",
        "household_size",
        "benefit",
    }
    frame = pq.read_table(caseload, columns=sorted(names & wanted)).to_pandas()
    n = len(frame)
    selected = frame["selected"].fillna(False).astype(bool) if "selected" in frame else False
    out = pd.DataFrame(index=frame.index)
    for key in LEVELS["tehsil"]:
        out[key] = frame[key].astype("string").fillna("") if key in frame else ""
    out["households"] = 1
    out["eligible"] = frame["eligible"].fillna(False).astype("int64") if "eligible" in frame else 0
    out["selected"] = pd.Series(selected, index=frame.index).astype("int64") if n else 0
    size = frame["household_size"].fillna(0).astype("int64") if "household_size" in frame else 0
    benefit = frame["benefit"].fillna(0.0).astype("float64") if "benefit" in frame else 0.0
    out["persons_selected"] = (size * out["selected"]).astype("int64")
    out["benefit"] = (benefit * out["selected"]).astype("float64")
    return out


def compute_aggregates(caseload: Path) -> dict[str, Any]:
    """Count households, eligible and selected, persons and benefit, per admin-unit level.

    Parameters
    ----------
    caseload
        ``caseload.parquet`` of a run.

    Returns
    -------
    dict
        ``{"totals": {...}, "levels": {"province": [...], "district": [...], "tehsil": [...]}}``,
        unsuppressed.
    """
    frame = _metrics_frame(caseload)
    values = [*COUNTS, *SELECTED_SUMS]
    result: dict[str, Any] = {
        "totals": {m: _py(frame[m].sum()) for m in values},
        "levels": {},
    }
    for level, keys in LEVELS.items():
        grouped = frame.groupby(list(keys), sort=True, dropna=False)[values].sum().reset_index()
        result["levels"][level] = [
            {k: _py(v) for k, v in row.items()} for row in grouped.to_dict(orient="records")
        ]
    return result


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def write_aggregates(run_dir: Path) -> dict[str, Any]:
    """Compute the aggregates of ``run_dir/caseload.parquet`` and store them next to it."""
    caseload = run_dir / "caseload.parquet"
    data = compute_aggregates(caseload)
    data["caseload_mtime_ns"] = caseload.stat().st_mtime_ns
    atomic_write_bytes(run_dir / AGGREGATES_FILE, json.dumps(data).encode())
    return data


def load_aggregates(run_dir: Path) -> dict[str, Any]:
    """Return the aggregates of the run in ``run_dir``, computing and caching them once.

    They are kept in ``aggregates.json`` next to the caseload (written atomically at job end,
    or here for a run that has none yet) and in a small in-process cache, so summaries are
    answered without reading the caseload again.
    """
    return _stored(run_dir)[1]


def _stored(run_dir: Path) -> tuple[tuple[str, int], dict[str, Any]]:
    """The cache key (folder, caseload stamp) and the aggregates of the run in ``run_dir``."""
    caseload = run_dir / "caseload.parquet"
    stamp = caseload.stat().st_mtime_ns
    key = (str(run_dir), stamp)
    hit = _CACHE.get(key)
    if hit is not None:
        return key, hit
    path = run_dir / AGGREGATES_FILE
    data: dict[str, Any] | None = None
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("caseload_mtime_ns") != stamp:
            data = None
    if data is None:
        data = write_aggregates(run_dir)
    _CACHE.put(key, data)
    return key, data


def _tree(data: dict[str, Any]) -> tuple[list[tuple[str, int]], list[int], list[dict[str, Any]]]:
    """The rows of every level as one tree: ``(level, index)`` of each, parents, figures."""
    order: list[tuple[str, int]] = [("totals", 0)]
    parents: list[int] = [-1]
    rows: list[dict[str, Any]] = [data["totals"]]
    position: dict[tuple[str, ...], int] = {(): 0}
    for level, keys in LEVELS.items():
        depth = {"province": 0, "district": 1, "tehsil": 3}[level]
        for i, row in enumerate(data["levels"][level]):
            key = tuple(str(row.get(k)) for k in keys)
            parent_key = key[:depth]
            position[key] = len(order)
            order.append((level, i))
            parents.append(position[parent_key])
            rows.append(row)
    return order, parents, rows


def suppression_pattern(data: dict[str, Any], k: int) -> dict[str, Any]:
    """Which rows of the aggregates are blanked for callers under the k threshold.

    Primary: rows showing (or giving by subtraction of their columns) a count in ``1..k-1``;
    complementary: :func:`~rahat.api.service.suppression.complete_suppression` over the tree
    national -> province -> district -> tehsil, so that no blanked row can be computed from
    the published ones at any level. Every endpoint that shows a run's figures uses this one
    pattern.

    Returns
    -------
    dict
        ``{"totals": bool, "levels": {level: [bool per row]}}``.
    """
    order, parents, rows = _tree(data)
    primary = [row_is_sensitive(row, COUNTS, k) for row in rows]
    sizes = [float(row.get("households") or 0) for row in rows]
    blanked = complete_suppression(parents, sizes, primary)
    pattern: dict[str, Any] = {
        "totals": bool(blanked[0]),
        "levels": {level: [False] * len(data["levels"][level]) for level in LEVELS},
    }
    for (level, i), hidden in zip(order[1:], blanked[1:], strict=True):
        pattern["levels"][level][i] = bool(hidden)
    return pattern


def blank(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every figure replaced by ``None`` and marked suppressed."""
    return {**row, **dict.fromkeys((*COUNTS, *SELECTED_SUMS)), "suppressed": True}


def published(run_dir: Path, k: int | None) -> dict[str, Any]:
    """The aggregates of a run as a caller under threshold ``k`` sees them (``None``: all).

    The view is a function of the stored (unsuppressed) aggregates and ``k`` only, so it is
    worked out once per run and threshold and shared: callers must not change it.
    """
    key, data = _stored(run_dir)
    view_key = (*key, k)
    view = _VIEWS.get(view_key)
    if view is None:
        view = _view(data, k)
        _VIEWS.put(view_key, view)
    return view


def _view(data: dict[str, Any], k: int | None) -> dict[str, Any]:
    """The aggregates ``data`` with the rows blanked for threshold ``k`` (``None``: none)."""
    pattern = None if k is None else suppression_pattern(data, k)

    def show(row: dict[str, Any], hidden: bool) -> dict[str, Any]:
        figures = _figures(row)
        return blank(figures) if hidden else {**figures, "suppressed": False}

    levels = {}
    for level, keys in LEVELS.items():
        rows = data["levels"][level]
        codes = unit_codes(rows, level)
        levels[level] = [
            {key: row.get(key) for key in keys}
            | {"code": codes[i]}
            | show(row, pattern is not None and pattern["levels"][level][i])
            for i, row in enumerate(rows)
        ]
    totals = show(data["totals"], pattern is not None and pattern["totals"])
    return {"totals": totals, "levels": levels}


def unit_codes(rows: list[dict[str, Any]], level: str) -> list[str | None]:
    """The gazetteer code of each unit row at ``level`` (``None`` where it has none).

    Maps and clients match units to boundaries by this code, never by a bare name.
    """
    if not rows:
        return []
    keys = LEVELS[level]
    names = tuple(tuple(row.get(key) for key in keys) for row in rows)
    codes = _CODES.get((level, names))
    if codes is None:
        import pandas as pd

        from rahat.geo.units import Level, gazetteer

        frame = pd.DataFrame(list(names), columns=list(keys))
        found = gazetteer().codes_of(frame)[Level(level)]
        codes = [None if code is None else str(code) for code in found]
        _CODES.put((level, names), codes)
    return list(codes)


def summary(run_dir: Path, level: str, k: int | None) -> dict[str, Any]:
    """Totals and per-unit figures of a run at ``level``, suppressed below ``k`` (``None``: not)."""
    view = published(run_dir, k)
    return {"level": level, "k": k, "totals": view["totals"], "units": view["levels"][level]}


def encoded_summary(
    run_dir: Path,
    level: str,
    k: int | None,
    encode: Callable[[dict[str, Any]], bytes],
    tag: str = "",
) -> bytes:
    """:func:`summary` as ``encode`` writes it, encoded once per run, threshold and level.

    The bytes are kept with the stamp of the caseload they were computed from (like the
    aggregates), so a rewritten caseload is encoded again. ``tag`` tells apart encodings
    that differ in more than the summary (the run id of the response, for instance).
    """
    key, _ = _stored(run_dir)
    full = (*key, k, level, tag)
    body = _ENCODED.get(full)
    if body is None:
        body = encode(summary(run_dir, level, k))
        _ENCODED.put(full, body)
    return body


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in (*COUNTS, *SELECTED_SUMS)}
