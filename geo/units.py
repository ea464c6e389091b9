"""Admin units by level and code: the gazetteer that agreements, filters and maps match on.

Every province, district and tehsil Rahat knows has a **code** that is unique across levels:

* provinces: their ISO 3166-2 code (``PK-SD`` Sindh, ``PK-KP`` Khyber Pakhtunkhwa, ...);
* districts and tehsils: the OCHA COD-AB P-code where the boundaries have one (Sindh:
  ``PK703`` Dadu, ``PK70302`` Johi); elsewhere a stable id built from the province code and the
  names down the hierarchy, ``PK-KP/nowshera`` (district Nowshera) or
  ``PK-PB/khushab/nowshera`` (tehsil Nowshera of Khushab district).

Units are matched **by code at one level**, never by a bare name: a household is in
``district:PK-KP/nowshera`` when its district code is that code, whatever its tehsil is called.
Names are only resolved to codes once, when a person types them (an agreement, a filter), and a
name that fits several units, or none, is refused with the candidates.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import numpy as np
import pandas as pd

from rahat.geo.errors import AmbiguousUnitError, UnknownUnitError


class Level(StrEnum):
    """Admin levels, from the largest to the smallest."""

    PROVINCE = "province"
    DISTRICT = "district"
    TEHSIL = "tehsil"

    @classmethod
    def get(cls, text: str) -> Level:
        """Return the level named ``text``; raise ``UnknownUnitError`` listing the levels."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise UnknownUnitError(
                f"unknown admin level '{text}'; use one of: {', '.join(cls)}"
            ) from None


#: ISO 3166-2 codes of Pakistan's provinces and territories (names as in the boundaries).
PROVINCE_CODES: dict[str, str] = {
    "Azad Jammu & Kashmir": "PK-JK",
    "Balochistan": "PK-BA",
    "Gilgit-Baltistan": "PK-GB",
    "Islamabad Capital Territory": "PK-IS",
    "Khyber Pakhtunkhwa": "PK-KP",
    "Punjab": "PK-PB",
    "Sindh": "PK-SD",
}

#: Caseload / registry columns that carry a unit's name or P-code.
NAME_COLUMNS: dict[Level, str] = {
    Level.PROVINCE: "province",
    Level.DISTRICT: "district",
    Level.TEHSIL: "tehsil",
}
PCODE_COLUMNS: dict[Level, str] = {Level.DISTRICT: "district_pcode", Level.TEHSIL: "tehsil_pcode"}
#: Every column :func:`Gazetteer.codes_of` may read.
UNIT_COLUMNS: tuple[str, ...] = (
    "province",
    "district",
    "district_pcode",
    "tehsil",
    "tehsil_pcode",
)

_SLUG = re.compile(r"[^0-9a-z]+")


def slug(name: str) -> str:
    """Lower-case ``name`` with runs of other characters turned into ``-``."""
    return _SLUG.sub("-", name.strip().lower()).strip("-")


def _key(name: str) -> str:
    return " ".join(name.strip().lower().split())


@dataclass(frozen=True)
class Unit:
    """One admin unit.

    Attributes
    ----------
    level
        Its level.
    code
        Its code, unique across levels (see the module docstring).
    name
        Its name as in the boundaries.
    parent
        Code of the enclosing unit (``None`` for a province).
    path
        Names from the province down to this unit, for messages.
    """

    level: Level
    code: str
    name: str
    parent: str | None
    path: tuple[str, ...]

    @property
    def ref(self) -> str:
        """``level:code``, the form agreements store and filters accept."""
        return f"{self.level}:{self.code}"

    def describe(self) -> str:
        """A person's description: ``tehsil:PK-PB/khushab/nowshera (Nowshera, Khushab, Punjab)``."""
        return f"{self.ref} ({', '.join(reversed(self.path))})"


class Gazetteer:
    """Every admin unit Rahat knows, looked up by code or resolved from a name.

    Parameters
    ----------
    units
        The units; parents must come before their children.
    """

    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: dict[str, Unit] = {}
        self._by_name: dict[tuple[Level, str], list[Unit]] = {}
        self._by_parent_name: dict[tuple[str | None, str], Unit] = {}
        for unit in units:
            self.units[unit.code.upper()] = unit
            self._by_name.setdefault((unit.level, _key(unit.name)), []).append(unit)
            self._by_parent_name.setdefault((unit.parent, slug(unit.name)), unit)

    def __len__(self) -> int:
        return len(self.units)

    def get(self, code: str) -> Unit | None:
        """The unit with ``code`` (case-insensitive), or ``None``."""
        return self.units.get(code.strip().upper())

    def ancestors(self, unit: Unit) -> list[Unit]:
        """Enclosing units of ``unit``, nearest first."""
        out = []
        parent = unit.parent
        while parent is not None:
            above = self.units[parent.upper()]
            out.append(above)
            parent = above.parent
        return out

    def contains(self, outer: Unit, inner: Unit) -> bool:
        """Whether ``inner`` is ``outer`` or lies inside it."""
        return inner == outer or outer in self.ancestors(inner)

    def overlaps(self, a: Unit, b: Unit) -> bool:
        """Whether one of ``a`` and ``b`` contains the other."""
        return self.contains(a, b) or self.contains(b, a)

    # -- resolving what a person typed -------------------------------------------------------
    def resolve(self, text: str, level: Level | str | None = None) -> Unit:
        """Return the unit ``text`` names: ``level:code``, ``level:name``, a code or a name.

        Raises
        ------
        UnknownUnitError
            Nothing fits; the message lists the closest units.
        AmbiguousUnitError
            A name fits several units; the message lists each with its level and code.
        """
        raw = text.strip()
        if level is None and ":" in raw:
            head, _, rest = raw.partition(":")
            if head.strip().lower() in tuple(Level):
                level, raw = head, rest.strip()
        wanted = Level.get(level) if isinstance(level, str) else level
        if not raw:
            raise UnknownUnitError(f"empty admin unit '{text}'")
        unit = self.get(raw)
        if unit is not None:
            if wanted is not None and unit.level != wanted:
                raise UnknownUnitError(
                    f"'{raw}' is the code of {unit.describe()}, not of a {wanted}; write {unit.ref}"
                )
            return unit
        levels = [wanted] if wanted is not None else list(Level)
        found = [u for lv in levels for u in self._by_name.get((lv, _key(raw)), [])]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(u.describe() for u in found)
            raise AmbiguousUnitError(
                f"'{text}' names {len(found)} admin units: {listed}. Give the one you mean "
                "as level:code"
            )
        raise UnknownUnitError(
            f"no admin unit '{text}' in Rahat's boundaries{self._closest(raw, levels)}"
        )

    def _closest(self, raw: str, levels: list[Level]) -> str:
        names = {u.name for u in self.units.values() if u.level in levels}
        close = difflib.get_close_matches(raw, sorted(names), n=5, cutoff=0.6)
        hits = [
            u for name in close for lv in levels for u in self._by_name.get((lv, _key(name)), [])
        ]
        if not hits:
            return ""
        return "; closest: " + "; ".join(u.describe() for u in hits[:8])

    # -- codes of households -----------------------------------------------------------------
    def code_of(self, level: Level, names: Mapping[str, object]) -> str | None:
        """The code at ``level`` of a household with unit columns ``names`` (``None``: none).

        A P-code column wins; otherwise the names are looked up under the enclosing unit; a
        name Rahat does not know still gets a stable code built from the names, which no
        agreement can name (agreements only hold codes of known units).
        """
        province = _text(names.get("province"))
        if province is None:
            return None
        province_code = PROVINCE_CODES.get(province) or f"PK-?/{slug(province)}"
        if level == Level.PROVINCE:
            return province_code
        district_code = _text(names.get("district_pcode"))
        if district_code is None:
            district = _text(names.get("district"))
            if district is None:
                return None
            known = self._by_parent_name.get((province_code, slug(district)))
            district_code = known.code if known else f"{province_code}/{slug(district)}"
        if level == Level.DISTRICT:
            return district_code
        tehsil_code = _text(names.get("tehsil_pcode"))
        if tehsil_code is not None:
            return tehsil_code
        tehsil = _text(names.get("tehsil"))
        if tehsil is None:
            return None
        known = self._by_parent_name.get((district_code, slug(tehsil)))
        if known is not None:
            return known.code
        base = district_code if "/" in district_code else f"{province_code}/{district_code}"
        return f"{base}/{slug(tehsil)}"

    def codes_of(self, frame: pd.DataFrame) -> dict[Level, np.ndarray]:
        """Codes at every level of each row of ``frame`` (columns :data:`UNIT_COLUMNS`).

        Returns object arrays (``None`` where a row has no unit at that level). Work is done
        once per distinct combination of unit columns, so millions of rows cost little.
        """
        columns = [c for c in UNIT_COLUMNS if c in frame.columns]
        n = len(frame)
        if not columns or n == 0:
            return {lv: np.full(n, None, dtype=object) for lv in Level}
        groups, uniques = factorize_rows(frame, columns)
        out: dict[Level, np.ndarray] = {}
        for lv in Level:
            per_group = np.array(
                [self.code_of(lv, dict(zip(columns, combo, strict=True))) for combo in uniques],
                dtype=object,
            )
            out[lv] = per_group[groups] if len(per_group) else np.full(n, None, dtype=object)
        return out


#: Largest combined code of :func:`factorize_rows` before it renumbers (int64 headroom).
_MAX_RADIX = 2**62


def factorize_rows(
    frame: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, list[tuple[object, ...]]]:
    """Number the distinct combinations of ``columns`` in ``frame``'s rows.

    Each column is factorised on its own (a categorical by its codes, without building a
    string per row) and the codes are combined into one integer per row, so millions of rows
    cost a few hash passes. Should the combinations outgrow an integer, those so far are
    numbered first and the numbering goes on from there.

    Returns
    -------
    tuple
        ``(groups, combinations)``: an int64 group per row, in order of first appearance, and
        each group's values (``None`` where missing).
    """
    combined = np.zeros(len(frame), np.int64)
    radix = 1
    decoders: list[tuple[np.ndarray, int, int]] = []
    for column in columns:
        codes, values = pd.factorize(frame[column], use_na_sentinel=True)
        size = len(values) + 1
        if radix * size >= _MAX_RADIX:
            combined, keys = pd.factorize(combined)
            so_far = np.empty(len(keys), dtype=object)
            so_far[:] = _combos(decoders, keys)
            decoders = [(so_far, 1, len(keys) + 1)]
            combined = combined.astype(np.int64) + 1
            radix = len(keys) + 1
        combined += (codes.astype(np.int64) + 1) * radix
        decoders.append((np.asarray(values, dtype=object), radix, size))
        radix *= size
    groups, keys = pd.factorize(combined)
    return groups.astype(np.int64), _combos(decoders, keys)


def _combos(
    decoders: list[tuple[np.ndarray, int, int]], keys: np.ndarray
) -> list[tuple[object, ...]]:
    """The column values of each combined key (``None`` for a missing value).

    A decoder whose values are tuples (combinations numbered earlier) contributes them whole.
    """
    out = []
    for key in keys.tolist():
        values: list[object] = []
        for column_values, radix, size in decoders:
            code = (key // radix) % size - 1
            value = None if code < 0 else column_values[code]
            values.extend(value if isinstance(value, tuple) else (value,))
        out.append(tuple(values))
    return out


def row_labels(frame: pd.DataFrame, columns: list[str], sep: str = "|") -> np.ndarray:
    """Each row's ``columns`` joined by ``sep`` (``None`` where one is missing).

    The same labels as ``frame[a].astype(str) + sep + frame[b].astype(str)``, built once per
    distinct combination (:func:`factorize_rows`) instead of once per row.
    """
    groups, combos = factorize_rows(frame, columns)
    labels = np.array(
        [None if None in combo else sep.join(str(v) for v in combo) for combo in combos],
        dtype=object,
    )
    return labels[groups] if len(labels) else np.empty(0, dtype=object)


def _text(value: object) -> str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _build_units() -> list[Unit]:
    from rahat.geo import boundaries

    units: list[Unit] = []
    for province in sorted(boundaries.provinces()["province"]):
        units.append(Unit(Level.PROVINCE, PROVINCE_CODES[province], province, None, (province,)))
    district_code: dict[tuple[str, str], str] = {}
    frame = boundaries.districts()
    for district, province, pcode in zip(
        frame["district"], frame["province"], frame["district_pcode"], strict=True
    ):
        parent = PROVINCE_CODES[province]
        code = pcode if isinstance(pcode, str) and pcode else f"{parent}/{slug(district)}"
        district_code[(province, district)] = code
        units.append(Unit(Level.DISTRICT, code, district, parent, (province, district)))
    district_by_pcode = {
        code: name for (_, name), code in district_code.items() if not code.startswith("PK-")
    }
    tehsils = boundaries.sindh_tehsils()
    for tehsil, pcode, parent in zip(
        tehsils["tehsil"], tehsils["tehsil_pcode"], tehsils["district_pcode"], strict=True
    ):
        district = district_by_pcode.get(parent, parent)
        units.append(Unit(Level.TEHSIL, pcode, tehsil, parent, ("Sindh", district, tehsil)))
    seen: set[str] = {u.code for u in units}
    names = boundaries.tehsil_names()
    for province, district, tehsil in zip(
        names["province"], names["district"], names["tehsil"], strict=True
    ):
        parent_code = district_code.get((province, district))
        if province == "Sindh" or parent_code is None:
            continue  # Sindh tehsils come from COD-AB; PBS districts unknown to the map: none
        code = f"{parent_code}/{slug(tehsil)}"
        if code in seen:
            continue
        seen.add(code)
        units.append(Unit(Level.TEHSIL, code, tehsil, parent_code, (province, district, tehsil)))
    return units


@cache
def gazetteer() -> Gazetteer:
    """Return the gazetteer of Rahat's bundled boundaries (built once per process)."""
    return Gazetteer(_build_units())
