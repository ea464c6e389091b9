"""The coverage-gap table as callers see it: rows in a tree, small cells suppressed.

The gap table (:func:`rahat.engine.gap.estimate_gap`) has one row per unit and level. Its
figures add up like a run's aggregates: a province's households, registered and stale records
are the sums of its districts' (and its unregistered poor nearly so), so a blanked district
would come back as its province minus the visible others. The rows are therefore put in a
tree (national -> province -> district -> tehsil; each further level named ``<level>_<cut>``,
such as ``district_footprint``, in a tree of its own) and blanked with the primary and
complementary suppression of :mod:`rahat.api.service.suppression`, the rule the run summaries
follow.

A unit's parent comes from its key (:class:`rahat.engine.gap.table.GapResult`): a district's
``province|district``, a tehsil's unit code, whose enclosing district the gazetteer knows
(:mod:`rahat.geo.units`; the district rows are matched by the same code). A unit whose parent
row is missing or not unique cannot be placed in the tree, and the table is then refused
rather than published with a leak (:class:`UnplacedUnitError`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rahat.api.service.suppression import complete_suppression, row_is_sensitive
from rahat.geo.errors import UnavailableError
from rahat.geo.units import Level, gazetteer

#: Nested counts of a gap row: households, the registered among them, the stale among those
#: (each difference of consecutive ones is a count of households too).
NESTED_COUNTS: tuple[str, ...] = ("households_est", "registered", "stale_records")
#: Counts checked on their own: the estimated unregistered bottom-40 % households.
OWN_COUNTS: tuple[str, ...] = ("unregistered_b40_est",)
#: Columns that name a row rather than give a figure; every other numeric column is a figure.
KEY_COLUMNS: tuple[str, ...] = ("level", "unit", "pcode", "method")
#: Figures of the national row: sums of its children (intervals do not add up).
TOTAL_FIGURES: tuple[str, ...] = (*NESTED_COUNTS, *OWN_COUNTS)
#: The admin levels of the tree, largest first; the unit columns each names in the inputs.
BASE_LEVELS: tuple[str, ...] = ("province", "district", "tehsil")


class UnplacedUnitError(UnavailableError):
    """A unit of the gap table whose parent unit is unknown or ambiguous (503)."""


def split_level(level: str) -> tuple[str, str]:
    """``("district", "_footprint")`` for ``district_footprint``; ``(level, "")`` otherwise."""
    for base in BASE_LEVELS:
        if level == base or level.startswith(base + "_"):
            return base, level[len(base) :]
    return level, ""


@dataclass
class GapTree:
    """The rows of a gap table with a national root per cut, and each row's parent.

    Attributes
    ----------
    rows
        Row figures as plain values: the national root of each cut (``level`` ``national``
        plus the cut), then the table's rows in order.
    parents
        Index in ``rows`` of each row's parent (``-1`` for a root).
    """

    rows: list[dict[str, Any]]
    parents: list[int]
    figures: tuple[str, ...]
    views: dict[int | None, dict[str, Any]] = field(default_factory=dict)

    def blanked(self, k: int) -> np.ndarray:
        """Which rows are suppressed for callers under threshold ``k`` (roots included)."""
        primary = [
            row_is_sensitive(row, NESTED_COUNTS, k) or row_is_sensitive(row, OWN_COUNTS, k)
            for row in self.rows
        ]
        sizes = [float(row.get("households_est") or 0) for row in self.rows]
        return complete_suppression(self.parents, sizes, primary)

    def view(self, k: int | None) -> dict[str, Any]:
        """National totals and rows by level, blanked for threshold ``k`` (``None``: none).

        Worked out once per threshold and shared: callers must not change it.
        """
        cached = self.views.get(k)
        if cached is not None:
            return cached
        hidden = np.zeros(len(self.rows), dtype=bool) if k is None else self.blanked(k)
        totals: dict[str, Any] = {}
        levels: dict[str, list[dict[str, Any]]] = {}
        for row, parent, blank in zip(self.rows, self.parents, hidden, strict=True):
            shown = dict(row)
            if blank:  # the method too: "direct" or "synthetic" tells the unit's sample size
                shown.update(dict.fromkeys((*self.figures, "method")))
            shown["suppressed"] = bool(blank)
            if parent < 0:
                if row["level"] == "national":
                    totals = {name: shown.get(name) for name in (*TOTAL_FIGURES, "coverage")}
                    totals["suppressed"] = shown["suppressed"]
                continue
            shown["parent"] = self.rows[parent]["unit"] if self.parents[parent] >= 0 else None
            levels.setdefault(str(row["level"]), []).append(shown)
        view = {"totals": totals, "levels": levels}
        self.views[k] = view
        return view


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as ``None``."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_tree(table: pd.DataFrame, keys: Sequence[Any]) -> GapTree:
    """Put the rows of ``table`` (rounded as written) in the suppression tree.

    Parameters
    ----------
    table
        The gap table as :func:`rahat.engine.gap.outputs.gap_csv_frame` writes it.
    keys
        Each row's unit key (:class:`rahat.engine.gap.table.GapResult`): the province's name,
        ``province|district`` for a district, the unit code (:mod:`rahat.geo.units`) for a
        tehsil.

    Raises
    ------
    UnplacedUnitError
        For a district or tehsil whose parent row the table does not have exactly once.
    """
    figures = tuple(
        c
        for c in table.columns
        if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(table[c].dtype)
    )
    records: list[dict[str, Any]] = [
        {str(k): _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")
    ]
    cuts = sorted({split_level(str(row["level"]))[1] for row in records})
    rows: list[dict[str, Any]] = []
    parents: list[int] = []
    root_of: dict[str, int] = {}
    for cut in cuts:
        root_of[cut] = len(rows)
        rows.append({"level": "national" + cut, "unit": "Pakistan", "pcode": "", "method": ""})
        parents.append(-1)
    offset = len(rows)
    rows += records
    where: dict[tuple[str, str], list[int]] = {}
    for i, (row, key) in enumerate(zip(records, keys, strict=True)):
        row["pcode"] = row.get("pcode") or ""
        base, cut = split_level(str(row["level"]))
        for code in _codes(base, str(key), row["pcode"]):
            where.setdefault((base + cut, code), []).append(offset + i)
    levels = {level for level, _ in where}
    for row, key in zip(records, keys, strict=True):
        parents.append(_parent(row, str(key), where, levels, root_of))
    _sum_roots(rows, parents, len(cuts))
    return GapTree(rows=rows, parents=parents, figures=figures)


def _codes(base: str, key: str, pcode: str) -> list[str]:
    """What a row's children name it by: a province's name, a district's key and unit code."""
    if base != "district":
        return [key]
    province, _, district = key.partition("|")
    names = {"province": province, "district": district, "district_pcode": pcode or None}
    code = gazetteer().code_of(Level.DISTRICT, names)
    return [key] if code is None else [key, code]


def _parent_codes(base: str, key: str) -> list[str]:
    """Keys or codes the unit enclosing the unit keyed ``key`` may have (none: the root)."""
    if base == "district":
        return [key.partition("|")[0]]
    if base != "tehsil":
        return []
    unit = gazetteer().get(key)
    if unit is not None:
        return [] if unit.parent is None else [unit.parent]
    # a tehsil Rahat does not know is coded ``<district code>/<slug>``, or
    # ``<province code>/<district P-code>/<slug>`` (rahat.geo.units.Gazetteer.code_of)
    above = key.rpartition("/")[0]
    return [above, above.rpartition("/")[2]]


def _parent(
    row: dict[str, Any],
    key: str,
    where: dict[tuple[str, str], list[int]],
    levels: set[str],
    roots: dict[str, int],
) -> int:
    """Index of the row of ``row``'s parent unit in the same cut (the cut's root for none)."""
    base, cut = split_level(str(row["level"]))
    up = BASE_LEVELS[BASE_LEVELS.index(base) - 1] if base in BASE_LEVELS[1:] else None
    codes = _parent_codes(base, key)
    if up is None or not codes or up + cut not in levels:
        return roots[cut]  # no parent level, or the cut has no rows of it
    found = sorted({i for code in codes for i in where.get((up + cut, code), [])})
    if len(found) == 1:
        return found[0]
    raise UnplacedUnitError(
        f"the gap table cannot be published: the {base} '{row['unit']}' has "
        f"{'no' if not found else 'more than one'} {up} row in the table, so its suppression "
        "could be undone by differencing"
    )


def _sum_roots(rows: list[dict[str, Any]], parents: list[int], roots: int) -> None:
    """Give each national root the sums of its children and their coverage."""
    for root in range(roots):
        children = [rows[i] for i, up in enumerate(parents) if up == root]
        for name in TOTAL_FIGURES:
            values = [row.get(name) for row in children]
            known = [v for v in values if v is not None]
            rows[root][name] = sum(known) if known else None
        households, registered = rows[root].get("households_est"), rows[root].get("registered")
        rows[root]["coverage"] = (
            round(registered / households, 4) if households and registered is not None else None
        )
