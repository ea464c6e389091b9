"""Two runs side by side, per province or district, with suppression consistent with summaries.

The selected counts of each run are shown exactly where that run's own summary shows them
(:func:`rahat.api.service.aggregates.published`), so no endpoint reveals a cell another one
blanks. The households added, dropped and kept form a block per unit: it is blanked when either
run's count of the unit is blanked or when one of the three is in ``1..k-1``, and complementary
blocks are blanked over national -> province -> district exactly as for summaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rahat.api.service.aggregates import published
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
    from rahat.engine.targeting import compare_caseloads

    frames = [
        pd.read_parquet(d / "caseload.parquet", columns=COMPARE_COLUMNS) for d in (dir_a, dir_b)
    ]
    result = compare_caseloads(*frames)
    rows = _rows(result.by_district, result.totals)
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
    units = [
        dict(zip(keys, rows[i]["key"], strict=True)) | figures(i)
        for i in range(len(rows))
        if len(rows[i]["key"]) == len(keys)
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
