"""The coverage gap in the caseload: unregistered bottom-40 % households next to the selected.

``rahat run ... --gap PATH`` reads the table ``rahat gap estimate`` writes
(``gap_by_unit.csv``, or its folder) with :func:`read_gap`. Its ``district_footprint`` rows (the
districts cut by the hazard footprint) are used when the table has any, else its ``district``
rows (whole districts). :func:`join_gap` matches them to the districts of the caseload:

- by district P-code when both the caseload's district and the gap row have one;
- else by (province, district) name, ignoring case and repeated spaces, when the gap table has
  a ``province`` column; never by a bare district name, which several provinces may share.

The summary gains ``unregistered_b40_est``, ``unregistered_b40_lo90`` and
``unregistered_b40_hi90`` on its district rows (empty where no gap row matches). Nothing is
dropped: the caseload's districts without a gap row and the gap units that match no district of
the registry are listed in the run's JSON and manifest and named in a warning.

**In the footprint.** With ``district_footprint`` rows, every one of them counts; with whole
``district`` rows only, the districts with at least one exposed household of the caseload
(their whole-district estimates: an upper bound of the footprint's share). A negative estimate
(a model-based estimate near zero can be) counts as 0 there; the summary shows it as given.

**Reserve.** ``budget.reserve_for_unregistered`` (``true`` = 1, or a share ``s``) holds back
``round(s x footprint estimate)`` households (half up) at the transfer (the fixed amount; for
other benefit kinds the eligible households' mean entitlement, rounded to the rupee) before
selection: ``budget.total`` is reduced by at most all of it and ``max_households`` by at most
all of them (:func:`reserve_budget`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.memo import memoised
from rahat.engine.targeting.scenario import Budget
from rahat.engine.targeting.unit_sums import unit_sums
from rahat.geo.errors import InputError, ScenarioError
from rahat.geo.files import sha256_file

#: File ``rahat gap estimate`` writes.
GAP_FILE = "gap_by_unit.csv"
#: Level of the rows of districts cut by the hazard footprint, and of whole districts.
FOOTPRINT_LEVEL = "district_footprint"
DISTRICT_LEVEL = "district"
#: Gap columns added to the summary's district rows, in order.
GAP_SUMMARY_COLUMNS: tuple[str, ...] = (
    "unregistered_b40_est",
    "unregistered_b40_lo90",
    "unregistered_b40_hi90",
)
#: Columns a gap table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("level", "unit", "pcode", *GAP_SUMMARY_COLUMNS)
#: Units listed by name in a warning (the manifest lists them all).
SHOWN_UNITS = 5

_G = TypeVar("_G")


def _name_key(value: Any) -> str:
    """A unit name as compared: case-folded, spaces collapsed (``""`` for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return " ".join(str(value).split()).casefold()


def _pcode_key(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip().upper()


@dataclass(frozen=True)
class GapTable:
    """The rows of a gap table used for the caseload.

    Attributes
    ----------
    units
        ``unit``, ``pcode`` and ``province`` (``""`` where missing) and the three estimates.
    level
        :data:`FOOTPRINT_LEVEL` or :data:`DISTRICT_LEVEL`: which rows these are.
    source
        File name of the table.
    sha256
        Its sha256.
    has_province
        Whether the table has a ``province`` column (needed to match by name).
    """

    units: pd.DataFrame
    level: str
    source: str
    sha256: str
    has_province: bool


def read_gap(path: str | Path) -> GapTable:
    """Read the gap table at ``path`` (``gap_by_unit.csv`` or the folder holding it).

    Raises
    ------
    rahat.geo.errors.InputError
        No such file, not a CSV, a column missing, no district rows, an estimate that is not
        a finite number, or a unit listed twice.
    """
    path = Path(path)
    if path.is_dir():
        path = path / GAP_FILE
    if not path.is_file():
        raise InputError(
            f"--gap: no {GAP_FILE} here; give the file or the folder `rahat gap estimate` wrote",
            source=path,
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--gap: not a readable CSV ({exc})", source=path) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"--gap: the table has no column {', '.join(missing)} (a {GAP_FILE} written by "
            "`rahat gap estimate` has them)",
            source=path,
        )
    levels = frame["level"].str.strip()
    level = FOOTPRINT_LEVEL if (levels == FOOTPRINT_LEVEL).any() else DISTRICT_LEVEL
    rows = frame[(levels == level).to_numpy()].reset_index(drop=True)
    if rows.empty:
        raise InputError(f"--gap: the table has no '{DISTRICT_LEVEL}' rows", source=path)
    has_province = "province" in rows.columns
    units = pd.DataFrame(
        {
            "unit": rows["unit"].str.strip(),
            "pcode": rows["pcode"].map(_pcode_key),
            "province": rows["province"].str.strip() if has_province else "",
        }
    )
    for name in GAP_SUMMARY_COLUMNS:
        values = pd.to_numeric(rows[name].str.strip(), errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            shown = ", ".join(repr(rows[name].iloc[i]) for i in bad[:SHOWN_UNITS])
            raise InputError(
                f"--gap: {name} must be a number; {len(bad)} '{level}' row(s) have {shown}",
                source=path,
            )
        units[name] = values
    _check_unique(units, path)
    return GapTable(units, level, path.name, sha256_file(path), has_province)


def _check_unique(units: pd.DataFrame, path: Path) -> None:
    pcodes = units["pcode"][units["pcode"] != ""]
    names = units["province"].map(_name_key) + "|" + units["unit"].map(_name_key)
    twice = sorted(set(pcodes[pcodes.duplicated()]) | set(names[names.duplicated()]))
    if twice:
        shown = ", ".join(twice[:SHOWN_UNITS])
        raise InputError(f"--gap: unit(s) listed twice: {shown}", source=path)


def match_units(units: pd.DataFrame, gap: GapTable) -> np.ndarray:
    """Row of ``gap.units`` matching each district of ``units`` (``-1``: none).

    Parameters
    ----------
    units
        ``province``, ``district`` and ``pcode`` per district (missing as ``None``).
    gap
        The gap table.

    Returns
    -------
    numpy.ndarray
        int64 row per district: by P-code when both have one, else by (province, district)
        when the gap table has provinces (module docstring).
    """
    table = gap.units
    by_pcode = {p: i for i, p in enumerate(table["pcode"]) if p}
    by_name: dict[tuple[str, str], int] = {}
    if gap.has_province:
        for i, (province, unit) in enumerate(zip(table["province"], table["unit"], strict=True)):
            if _name_key(province):
                by_name[(_name_key(province), _name_key(unit))] = i
    gap_pcodes = table["pcode"].to_numpy(dtype=object)
    out = np.full(len(units), -1, dtype=np.int64)
    for k, (province, district, pcode) in enumerate(
        zip(units["province"], units["district"], units["pcode"], strict=True)
    ):
        code = _pcode_key(pcode)
        if code and code in by_pcode:
            out[k] = by_pcode[code]
            continue
        row = by_name.get((_name_key(province), _name_key(district)), -1)
        if row >= 0 and not (code and gap_pcodes[row]):  # two P-codes that differ: no match
            out[k] = row
    return out


def district_units(
    exposure: Exposure, rows: np.ndarray | None, exposed: np.ndarray
) -> pd.DataFrame:
    """``province``, ``district``, ``pcode`` and ``exposed`` count of the households at ``rows``.

    ``rows``: registry positions (``None``: every household); ``exposed``: a flag per row.
    Grouped as the summary groups its district rows (:func:`unit_sums`).
    """
    frame = exposure.registry.frame

    def column(name: str) -> pd.Series:
        values = frame[name] if rows is None else frame[name].take(rows)
        return values.reset_index(drop=True)

    first = {"pcode": column("district_pcode")} if "district_pcode" in frame.columns else None
    keys = {"province": column("province"), "district": column("district")}
    out = unit_sums(keys, {"exposed": exposed}, first)
    if "pcode" not in out.columns:
        out["pcode"] = None
    return out


def _registry_districts(exposure: Exposure) -> pd.DataFrame:
    registry = exposure.registry

    def compute() -> pd.DataFrame:
        return district_units(exposure, None, np.zeros(len(registry), dtype=bool))

    return memoised(registry, ("gap_districts",), compute)


@dataclass(frozen=True)
class Reserve:
    """Money and households held back for the unregistered bottom-40 % of the footprint.

    Attributes
    ----------
    share
        Share of the estimated unregistered households reserved for.
    households
        ``round(share x estimate)`` (half up): the households reserved for.
    transfer
        Rupees per household.
    amount
        Rupees held back from ``budget.total`` (``None``: no total), at most all of it.
    count
        Households held back from ``budget.max_households`` (``None``: no such limit).
    budget
        The budget left for the registered households.
    """

    share: float
    households: int
    transfer: int
    amount: int | None
    count: int | None
    budget: Budget


def reserve_budget(budget: Budget, share: float, estimate: float, transfer: int) -> Reserve:
    """Hold back ``transfer`` x ``round(share x estimate)`` from ``budget`` (capped at it)."""
    households = math.floor(share * estimate + 0.5)
    amount = count = None
    update: dict[str, Any] = {}
    if budget.total is not None:
        amount = min(households * transfer, budget.total)
        update["total"] = budget.total - amount
    if budget.max_households is not None:
        count = min(households, budget.max_households)
        update["max_households"] = budget.max_households - count
    return Reserve(share, households, transfer, amount, count, budget.model_copy(update=update))


def reserve_transfer(fixed: int | None, entitled: np.ndarray) -> int:
    """The transfer per reserved household: ``fixed``, else the mean entitlement (rounded)."""
    if fixed is not None:
        return fixed
    n = len(entitled)
    if n == 0:
        return 0
    total = int(np.sum(entitled, dtype=np.int64))
    return (2 * total + n) // (2 * n)  # half up, exact


@dataclass(frozen=True)
class GapJoin:
    """The gap table matched to a caseload's districts.

    Attributes
    ----------
    table
        The gap rows used.
    districts
        The caseload's districts (``province``, ``district``, ``pcode``, ``exposed``) with the
        matched gap ``row`` (-1: none).
    unmatched
        Gap units that match no district of the registry (``unit``, ``pcode``, ``province``).
    footprint_est
        Estimated unregistered bottom-40 % households in the footprint (module docstring).
    reserve
        The budget reserve, when the scenario asks for one.
    """

    table: GapTable
    districts: pd.DataFrame
    unmatched: pd.DataFrame
    footprint_est: float
    reserve: Reserve | None = field(default=None)

    def estimates(self, units: pd.DataFrame) -> pd.DataFrame:
        """The three estimates for each district of ``units`` (whole households; NA: no row)."""
        row = match_units(units, self.table)
        out = pd.DataFrame(index=units.index)
        for name in GAP_SUMMARY_COLUMNS:
            values = self.table.units[name].to_numpy(np.float64)
            whole = np.floor(np.append(values, np.nan)[row] + 0.5)
            out[name] = pd.array(np.where(row >= 0, whole, 0).astype(np.int64), dtype="Int64")
            out.loc[row < 0, name] = pd.NA
        return out

    def without_gap(self) -> list[str]:
        """The caseload's districts with no gap row, as ``province/district``."""
        lost = self.districts[self.districts["row"] < 0]
        return [f"{p}/{d}" for p, d in zip(lost["province"], lost["district"], strict=True)]

    def report(self) -> dict[str, Any]:
        """What the run's JSON and manifest say about the gap (``gap``)."""
        reserve = self.reserve
        return {
            "file": self.table.source,
            "sha256": self.table.sha256,
            "rows": self.table.level,
            "districts_matched": int((self.districts["row"] >= 0).sum()),
            "districts_without_gap": self.without_gap(),
            "unmatched_gap_units": [
                {"unit": u, "pcode": p or None, "province": v or None}
                for u, p, v in zip(
                    self.unmatched["unit"],
                    self.unmatched["pcode"],
                    self.unmatched["province"],
                    strict=True,
                )
            ],
            "unregistered_b40_footprint_est": round(self.footprint_est),
            "reserve": None
            if reserve is None
            else {
                "share": reserve.share,
                "households": reserve.households,
                "transfer": reserve.transfer,
                "amount": reserve.amount,
                "max_households_held": reserve.count,
            },
        }

    def warnings(self) -> list[str]:
        """Plain-language notes on what did not match."""
        out = []
        if len(self.unmatched):
            names = list(self.unmatched["unit"])
            more = f" and {len(names) - SHOWN_UNITS} more" if len(names) > SHOWN_UNITS else ""
            why = "" if self.table.has_province else " (the table has no province column)"
            out.append(
                f"gap: {len(names)} unit(s) of {self.table.source} match no district of the "
                f"registry{why}: {', '.join(names[:SHOWN_UNITS])}{more}; listed in the manifest"
            )
        lost = self.without_gap()
        if lost:
            more = f" and {len(lost) - SHOWN_UNITS} more" if len(lost) > SHOWN_UNITS else ""
            out.append(
                f"gap: {len(lost)} district(s) of the caseload have no row in "
                f"{self.table.source}: {', '.join(lost[:SHOWN_UNITS])}{more}; their "
                "unregistered estimates are left empty"
            )
        return out


def join_gap(gap: GapTable, exposure: Exposure, idx: np.ndarray, exposed: np.ndarray) -> GapJoin:
    """Match ``gap`` to the districts of the considered households ``idx`` (module docstring).

    Parameters
    ----------
    gap
        The gap table (:func:`read_gap`).
    exposure
        What was evaluated.
    idx
        Registry positions of the considered households.
    exposed
        Whether each of them is exposed.
    """
    districts = district_units(exposure, idx, exposed)
    districts["row"] = match_units(districts, gap)
    everywhere = match_units(_registry_districts(exposure), gap)
    matched = np.zeros(len(gap.units), dtype=bool)
    matched[everywhere[everywhere >= 0]] = True
    unmatched = gap.units.loc[~matched, ["unit", "pcode", "province"]].reset_index(drop=True)
    est = np.clip(gap.units["unregistered_b40_est"].to_numpy(np.float64), 0.0, None)
    if gap.level == FOOTPRINT_LEVEL:
        footprint = float(est.sum())
    else:
        rows = districts["row"].to_numpy()[districts["exposed"].to_numpy() > 0]
        footprint = float(est[np.unique(rows[rows >= 0])].sum())
    return GapJoin(gap, districts, unmatched, footprint)


def require_gap(gap: _G | None) -> _G:
    """``gap`` (a table or its join), or the error of a reserve asked for without one."""
    if gap is None:
        raise ScenarioError(
            "budget.reserve_for_unregistered needs the coverage-gap table: give --gap PATH "
            f"(the {GAP_FILE} or the folder written by `rahat gap estimate`)"
        )
    return gap
