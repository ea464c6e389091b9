"""Admin units of every household (province, district, tehsil) as integer codes.

The registry's own columns are the source (NSER records each household's admin units, and
that is what programmes such as BISP notify and count by); a zone layer of the same name in the
exposure is used only when the registry lacks the column. P-codes come from the registry's
``district_pcode`` / ``tehsil_pcode`` columns where present.

With ``source="located"`` (a scenario's ``admin_units: located``) the unit is instead the
polygon of the exposure's zone layer of that level the household's point lies in: a household
recorded in Dadu but located in Lahore counts in Lahore. A household whose point lies in no
polygon of the level (for tehsils: outside Sindh, the only tehsil polygons) has no unit.

Tehsil names repeat across districts (for example several "Saddar" tehsils), so a tehsil unit is
the pair (district, tehsil) whenever the registry has both columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.memo import memoised


@dataclass(frozen=True)
class AdminUnits:
    """Unit membership at one admin level.

    Attributes
    ----------
    level
        ``province``, ``district`` or ``tehsil``.
    codes
        Unit code per household (int32), -1 where unknown.
    names
        Name of each unit code.
    pcodes
        P-code of each unit code (``None`` where unknown).
    """

    level: str
    codes: np.ndarray
    names: np.ndarray
    pcodes: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def match(self, wanted: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Return a bool per unit code (named by name or P-code, case-insensitive) and misses."""
        keys: dict[str, list[int]] = {}
        for i, (name, pcode) in enumerate(zip(self.names, self.pcodes, strict=True)):
            for key in (name, pcode):
                if key is not None:
                    keys.setdefault(str(key).casefold().strip(), []).append(i)
        hit = np.zeros(len(self.names), dtype=bool)
        missing: list[str] = []
        for unit in wanted:
            found = keys.get(unit.casefold().strip())
            if found:
                hit[found] = True
            else:
                missing.append(unit)
        return hit, missing


def _first_pcodes(frame: pd.DataFrame, level: str, codes: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, None, dtype=object)
    column = f"{level}_pcode"
    if column not in frame.columns:
        return out
    pcode_col = frame[column]
    if not isinstance(pcode_col.dtype, pd.CategoricalDtype):
        pcode_col = pcode_col.astype("category")
    pcode_codes = pcode_col.cat.codes.to_numpy()
    cats = pcode_col.cat.categories.to_numpy(dtype=object)
    ok = (codes >= 0) & (pcode_codes >= 0)
    first = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(ok)[::-1]
    first[codes[idx]] = pcode_codes[idx]  # reversed: the first occurrence is written last
    has = first >= 0
    out[has] = cats[first[has]]
    return out


def _tehsil_units(frame: pd.DataFrame) -> AdminUnits:
    district = frame["district"].astype("category")
    tehsil = frame["tehsil"].astype("category")
    d_codes = district.cat.codes.to_numpy().astype(np.int64)
    t_codes = tehsil.cat.codes.to_numpy().astype(np.int64)
    n_t = len(tehsil.cat.categories)
    pair = np.where(t_codes >= 0, d_codes * n_t + t_codes, -1)
    valid = pair >= 0
    uniq, inverse = np.unique(pair[valid], return_inverse=True)
    codes = np.full(len(pair), -1, dtype=np.int32)
    codes[valid] = inverse.astype(np.int32)
    t_names = tehsil.cat.categories.to_numpy(dtype=object)
    names = t_names[uniq % n_t] if len(uniq) else np.empty(0, dtype=object)
    return AdminUnits("tehsil", codes, names, _first_pcodes(frame, "tehsil", codes, len(uniq)))


def _zone_units(exposure: Exposure, level: str) -> AdminUnits:
    zone = exposure.zones[level]
    table = zone.table
    pcodes = (
        table["pcode"].to_numpy(dtype=object)
        if "pcode" in table.columns
        else np.full(len(table), None, dtype=object)
    )
    return AdminUnits(
        level, zone.codes.astype(np.int32), table["name"].to_numpy(dtype=object), pcodes
    )


def admin_units(exposure: Exposure, level: str, source: str = "recorded") -> AdminUnits:
    """Return the households' units at ``level`` (memoised per registry).

    Parameters
    ----------
    exposure
        The overlay.
    level
        ``province``, ``district`` or ``tehsil``.
    source
        ``recorded``: the registry's columns (the zone layer only when the column is missing);
        ``located``: the zone layer of that level (module docstring).

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If neither the registry nor the exposure has that level (``located``: if the exposure
        has no zone layer of that level).
    """
    registry = exposure.registry
    if source == "located":
        if level not in exposure.zones:
            from rahat.geo.errors import ScenarioError

            raise ScenarioError(
                f"admin_units: located needs the '{level}' zone layer in the overlay; it has "
                f"{', '.join(exposure.zones) or 'none'}"
            )
        return _zone_units(exposure, level)  # cheap; not memoised (the overlay may differ)
    if source != "recorded":
        raise ValueError(f"source must be 'recorded' or 'located', got {source!r}")

    def compute() -> AdminUnits:
        frame = registry.frame
        if level == "tehsil" and {"district", "tehsil"} <= set(frame.columns):
            return _tehsil_units(frame)
        if level in frame.columns:
            column = frame[level]
            if not isinstance(column.dtype, pd.CategoricalDtype):
                column = column.astype("category")
            codes = column.cat.codes.to_numpy().astype(np.int32)
            names = column.cat.categories.to_numpy(dtype=object)
            return AdminUnits(level, codes, names, _first_pcodes(frame, level, codes, len(names)))
        if level in exposure.zones:
            return _zone_units(exposure, level)
        from rahat.geo.errors import ScenarioError

        raise ScenarioError(f"the registry has no '{level}' column and the exposure no such zone")

    return memoised(registry, ("admin_units", level), compute)
