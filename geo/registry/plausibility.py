"""Plausibility checks of registry rows against Rahat's boundaries and gazetteer.

Two kinds of check, both vectorised and cheap at national scale (40 M rows):

* **Where a household is.** A point outside Pakistan (its boundary plus
  :data:`COUNTRY_BUFFER_DEG`) is rejected. A point inside the country but outside its recorded
  district (Lahore coordinates recorded as Dadu) is *kept* and flagged: the record may be right
  and the coordinates off, or the other way round, and a scenario decides which unit its admin
  rules use. Both are answered by a grid over the country, built once per process: a cell at
  least one cell away from every district line and from the country's edge belongs wholly to
  one district (or wholly to the outside), so only points in cells along a line are tested
  against the polygons themselves (``shapely.contains_xy`` on prepared polygons). The grid only
  speeds things up: the answers are those of the polygons.
* **What a household's units are called.** Province, district and tehsil names and the
  district and tehsil P-codes must be units of :func:`rahat.geo.units.gazetteer` (names as the
  gazetteer spells them, compared as :func:`rahat.geo.units.slug` does; provinces exactly, as
  :meth:`~rahat.geo.units.Gazetteer.code_of` matches them), a tehsil must belong to the
  household's district and a P-code must be the unit the name says. The reason names the
  closest valid unit. Work is done once per distinct combination, never per row. Districts
  whose tehsils Rahat does not know (the gazetteer lists none) are not checked at tehsil
  level; those rows are flagged instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from rahat.geo.units import PROVINCE_CODES, Gazetteer, Level, Unit, gazetteer, slug

#: Households up to about this far outside Pakistan's boundary (degrees; 0.1 is about 11 km)
#: are accepted: coastal and border households, GPS error. The boundary is simplified by
#: 0.01 degree before buffering, so every point within 0.08 degree is always inside.
COUNTRY_BUFFER_DEG = 0.1
_SIMPLIFY_DEG = 0.01
#: Side of a grid cell (degrees, about 1 km).
GRID_CELL_DEG = 0.01
_CHUNK = 4_000_000

#: Flag (not a rejection) for a household whose point lies outside its recorded district.
LOCATION_FLAG = "district: location lies outside the recorded district (household kept)"
#: Flag for a tehsil that cannot be checked because Rahat lists no tehsils of the district.
UNCHECKED_TEHSIL_FLAG = "tehsil: not checked, Rahat lists no tehsils of the district"

_OUTSIDE = -1  # cell wholly outside the buffered country
_EDGE = -2  # cell along the country's edge: test both polygons
_LINE = -3  # cell inside the country along a district line: test the district polygon
_NO_DISTRICT = -4  # cell wholly inside the buffered country but in no district (the buffer)


@dataclass(frozen=True)
class _Grid:
    x0: float
    y0: float
    cell: float
    cells: np.ndarray  # int16 (rows, cols): district index, or one of the negative codes
    country: object  # prepared buffered polygon
    districts: np.ndarray  # prepared district polygons, in boundaries.districts() order
    district_codes: tuple[str, ...]  # gazetteer codes of those districts


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a boolean mask by one cell in all eight directions."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


@cache
def _grid() -> _Grid:
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    from rahat.geo import boundaries

    provinces = boundaries.provinces().geometry.to_numpy()
    land = shapely.simplify(shapely.union_all(provinces), _SIMPLIFY_DEG)
    country = shapely.buffer(land, COUNTRY_BUFFER_DEG, quad_segs=4)
    shapely.prepare(country)
    frame = boundaries.districts()
    districts = frame.geometry.to_numpy()
    shapely.prepare(districts)
    codes = tuple(
        _district_unit(province, district).code
        for province, district in zip(frame["province"], frame["district"], strict=True)
    )

    cell = GRID_CELL_DEG
    minx, miny, maxx, maxy = shapely.bounds(country)
    x0, y1 = minx - 2 * cell, maxy + 2 * cell
    width = int(np.ceil((maxx - x0) / cell)) + 2
    height = int(np.ceil((y1 - miny) / cell)) + 2
    transform = Affine(cell, 0.0, x0, 0.0, -cell, y1)
    shape = (height, width)

    def burn(shapes: Iterable[tuple[object, int]], *, touched: bool) -> np.ndarray:
        return rasterize(
            shapes, out_shape=shape, transform=transform, fill=0, all_touched=touched, dtype="int32"
        )

    inside = burn([(country, 1)], touched=False).astype(bool)
    edge = _dilate(burn([(shapely.boundary(country), 1)], touched=True).astype(bool))
    label = burn(((g, i + 1) for i, g in enumerate(districts)), touched=False) - 1
    lines = shapely.boundary(districts)
    line = _dilate(burn(((g, 1) for g in lines), touched=True).astype(bool))
    cells = np.where(label >= 0, label, _NO_DISTRICT).astype(np.int16)
    cells[line] = _LINE
    cells[~inside] = _OUTSIDE
    cells[edge] = _EDGE
    # Rows of the grid run from north to south; flip so that row = floor((lat - y0) / cell).
    cells = np.ascontiguousarray(cells[::-1])
    y0 = y1 - height * cell
    return _Grid(x0, y0, cell, cells, country, districts, codes)


def _district_unit(province: str, district: str) -> Unit:
    return _index().by_parent[(PROVINCE_CODES[province], slug(district))]


@dataclass(frozen=True)
class _Index:
    by_parent: dict[tuple[str, str], Unit]
    districts_by_province: dict[str, list[str]]
    tehsils_by_district: dict[str, list[str]]
    district_slugs: dict[str, list[Unit]]
    tehsil_slugs: dict[str, list[Unit]]


@cache
def _index() -> _Index:
    places = gazetteer()
    by_parent: dict[tuple[str, str], Unit] = {}
    districts: dict[str, list[str]] = {}
    tehsils: dict[str, list[str]] = {}
    district_slugs: dict[str, list[Unit]] = {}
    tehsil_slugs: dict[str, list[Unit]] = {}
    for unit in places.units.values():
        if unit.parent is None:
            continue
        by_parent.setdefault((unit.parent, slug(unit.name)), unit)
        if unit.level == Level.DISTRICT:
            districts.setdefault(unit.parent, []).append(unit.name)
            district_slugs.setdefault(slug(unit.name), []).append(unit)
        else:
            tehsils.setdefault(unit.parent, []).append(unit.name)
            tehsil_slugs.setdefault(slug(unit.name), []).append(unit)
    return _Index(by_parent, districts, tehsils, district_slugs, tehsil_slugs)


# ------------------------------------------------------------------------------------------
# Where households are
# ------------------------------------------------------------------------------------------


def locate(lon: np.ndarray, lat: np.ndarray, recorded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(outside_country, outside_recorded_district)`` for each point.

    Parameters
    ----------
    lon, lat
        WGS 84 coordinates (float64); NaN points are neither outside nor mismatched.
    recorded
        Index of each household's recorded district in :func:`district_codes` order, ``-1``
        when unknown (then no mismatch is reported).
    """
    n = len(lon)
    if n > _CHUNK:  # bound the working memory at national scale
        outside = np.empty(n, dtype=bool)
        mismatch = np.empty(n, dtype=bool)
        for start in range(0, n, _CHUNK):
            part = slice(start, start + _CHUNK)
            outside[part], mismatch[part] = _locate(lon[part], lat[part], recorded[part])
        return outside, mismatch
    return _locate(lon, lat, recorded)


def _locate(
    lon: np.ndarray, lat: np.ndarray, recorded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    grid = _grid()
    n = len(lon)
    rows_n, cols_n = grid.cells.shape
    with np.errstate(invalid="ignore"):
        col = np.floor((lon - grid.x0) / grid.cell)
        row = np.floor((lat - grid.y0) / grid.cell)
        on_grid = (col >= 0) & (col < cols_n) & (row >= 0) & (row < rows_n)
    cells = np.full(n, _OUTSIDE, dtype=np.int16)
    cells[on_grid] = grid.cells[row[on_grid].astype(np.intp), col[on_grid].astype(np.intp)]
    present = ~(np.isnan(lon) | np.isnan(lat))
    outside = (cells == _OUTSIDE) & present
    edge = np.flatnonzero(cells == _EDGE)
    if len(edge):
        outside[edge] = ~shapely.contains_xy(grid.country, lon[edge], lat[edge])
    mismatch = (cells >= 0) & (cells != recorded)
    mismatch |= cells == _NO_DISTRICT
    exact = np.flatnonzero(((cells == _LINE) | (cells == _EDGE)) & (recorded >= 0))
    if len(exact):
        order = exact[np.argsort(recorded[exact], kind="stable")]
        groups = recorded[order]
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts, ends, strict=True):
            rows = order[start:end]
            polygon = grid.districts[groups[start]]
            mismatch[rows] = ~shapely.contains_xy(polygon, lon[rows], lat[rows])
    mismatch &= ~outside & present & (recorded >= 0)
    return outside, mismatch


def district_codes() -> tuple[str, ...]:
    """Gazetteer codes of the districts, in :func:`rahat.geo.boundaries.districts` order."""
    return _grid().district_codes


def inside_country(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies in Pakistan (its boundary plus :data:`COUNTRY_BUFFER_DEG`)."""
    outside, _ = locate(lon, lat, np.full(len(lon), -1, dtype=np.int64))
    present = ~(np.isnan(lon) | np.isnan(lat))
    return present & ~outside


# ------------------------------------------------------------------------------------------
# What units are called
# ------------------------------------------------------------------------------------------


def _closest(value: str, names: Iterable[str]) -> str:
    """The valid name closest to ``value`` (case-insensitive), for messages."""
    names = sorted(set(names))
    if not names:
        return ""
    lowered = {n.lower(): n for n in names}
    best = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.0)
    return f" (closest: {lowered[best[0]]})" if best else ""


def _coded_unit(places: Gazetteer, level: Level, column: str, code: str) -> Unit | str:
    """The unit at ``level`` that ``code`` names, or why ``column`` names none (closest)."""
    unit = places.get(code)
    if unit is not None and unit.level == level:
        return unit
    codes = [u.code for u in places.units.values() if u.level == level]
    return f"{column}: unknown '{code}'{_closest(code, codes)}"


def _text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _combine(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factorize pairs of codes: ``(group of each row, a of each group, b of each group)``."""
    width = np.int64(int(b.max(initial=-1)) + 2)
    key = a.astype(np.int64) * width + (b.astype(np.int64) + 1)
    groups, uniques = pd.factorize(key)
    uniques = np.asarray(uniques, dtype=np.int64)
    return groups.astype(np.int64), uniques // width, uniques % width - 1


@dataclass
class UnitCheck:
    """Outcome of :func:`check_units`.

    Attributes
    ----------
    rejects
        ``(rows, reason)`` pairs: rows (sorted positions) rejected for that reason.
    flags
        ``(rows, flag)`` pairs for rows that are kept but worth a look.
    district
        Index of each row's recorded district in :func:`district_codes` order (``-1``: none).
    """

    rejects: list[tuple[np.ndarray, str]]
    flags: list[tuple[np.ndarray, str]]
    district: np.ndarray


def _codes(series: pd.Series | None, n: int) -> tuple[np.ndarray, list[str | None]]:
    if series is None:
        return np.full(n, -1, dtype=np.int64), []
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    return (
        np.asarray(cat.cat.codes, dtype=np.int64),
        [_text(v) for v in cat.cat.categories],
    )


def check_units(columns: dict[str, pd.Series], n: int) -> UnitCheck:
    """Check the admin-unit columns of ``n`` rows against the gazetteer.

    Parameters
    ----------
    columns
        Categorical ``province``, ``district`` and, where present, ``tehsil``,
        ``district_pcode``, ``tehsil_pcode``.
    n
        Number of rows.
    """
    places = gazetteer()
    index = _index()
    province_names = sorted(PROVINCE_CODES)
    code_position = {code: i for i, code in enumerate(district_codes())}
    prov, prov_values = _codes(columns.get("province"), n)
    dist, dist_values = _codes(columns.get("district"), n)
    dpc, dpc_values = _codes(columns.get("district_pcode"), n)
    teh, teh_values = _codes(columns.get("tehsil"), n)
    tpc, tpc_values = _codes(columns.get("tehsil_pcode"), n)

    reasons: dict[str, int] = {}
    flags_text: dict[str, int] = {}

    def reason_id(text: str, table: dict[str, int]) -> int:
        return table.setdefault(text, len(table))

    # Districts: once per distinct (province, district, district_pcode).
    pd_groups, g_prov, g_rest = _combine(prov, dist)
    d_groups, g_pd, g_dpc = _combine(pd_groups, dpc)
    n_d = len(g_pd)
    d_code: list[str | None] = [None] * n_d
    d_reason = np.full(n_d, -1, dtype=np.int64)
    d_position = np.full(n_d, -1, dtype=np.int64)
    for g in range(n_d):
        p_i, d_i, c_i = int(g_prov[g_pd[g]]), int(g_rest[g_pd[g]]), int(g_dpc[g])
        province = prov_values[p_i] if p_i >= 0 else None
        district = dist_values[d_i] if d_i >= 0 else None
        pcode = dpc_values[c_i] if c_i >= 0 else None
        if province is None or district is None:
            continue  # reported as missing by the schema checks
        if province not in PROVINCE_CODES:
            text = f"province: unknown '{province}'{_closest(province, province_names)}"
            d_reason[g] = reason_id(text, reasons)
            continue
        province_code = PROVINCE_CODES[province]
        found = index.by_parent.get((province_code, slug(district)))
        if found is None or found.level != Level.DISTRICT:
            elsewhere = index.district_slugs.get(slug(district), [])
            if elsewhere:
                text = f"district: '{district}' is in {elsewhere[0].path[0]}, not {province}"
            else:
                names = index.districts_by_province.get(province_code, [])
                text = f"district: unknown '{district}' in {province}{_closest(district, names)}"
            d_reason[g] = reason_id(text, reasons)
            continue
        if pcode is not None:
            by_code = _coded_unit(places, Level.DISTRICT, "district_pcode", pcode)
            if isinstance(by_code, str):
                d_reason[g] = reason_id(by_code, reasons)
                continue
            if by_code != found:
                text = f"district_pcode: {by_code.code} is {by_code.name}, not {district}"
                d_reason[g] = reason_id(text, reasons)
                continue
        d_code[g] = found.code
        d_position[g] = code_position.get(found.code, -1)

    # Tehsils: once per distinct (district group, tehsil, tehsil_pcode).
    dt_groups, g_d, g_teh = _combine(d_groups, teh)
    t_groups, g_dt, g_tpc = _combine(dt_groups, tpc)
    n_t = len(g_dt)
    t_reason = np.full(n_t, -1, dtype=np.int64)
    t_flag = np.full(n_t, -1, dtype=np.int64)
    for g in range(n_t):
        d_g = int(g_d[g_dt[g]])
        t_i, c_i = int(g_teh[g_dt[g]]), int(g_tpc[g])
        district_code = d_code[d_g]
        tehsil = teh_values[t_i] if t_i >= 0 else None
        pcode = tpc_values[c_i] if c_i >= 0 else None
        if district_code is None or (tehsil is None and pcode is None):
            continue
        district_unit = places.get(district_code)
        district_name = district_unit.name if district_unit else district_code
        names = index.tehsils_by_district.get(district_code, [])
        unit: Unit | None = None
        if pcode is not None:
            coded = _coded_unit(places, Level.TEHSIL, "tehsil_pcode", pcode)
            if isinstance(coded, str):
                t_reason[g] = reason_id(coded, reasons)
                continue
            unit = coded
            if unit.parent != district_code:
                parent = places.get(unit.parent or "")
                text = (
                    f"tehsil_pcode: {unit.code} ({unit.name}) is a tehsil of "
                    f"{parent.name if parent else unit.parent}, not of {district_name}"
                )
                t_reason[g] = reason_id(text, reasons)
                continue
            if tehsil is not None and slug(tehsil) != slug(unit.name):
                text = f"tehsil_pcode: {unit.code} is {unit.name}, not {tehsil}"
                t_reason[g] = reason_id(text, reasons)
            continue
        assert tehsil is not None
        if not names:
            t_flag[g] = reason_id(UNCHECKED_TEHSIL_FLAG, flags_text)
            continue
        known = index.by_parent.get((district_code, slug(tehsil)))
        if known is None or known.level != Level.TEHSIL:
            text = f"tehsil: unknown '{tehsil}' in {district_name}{_closest(tehsil, names)}"
            others = index.tehsil_slugs.get(slug(tehsil), [])
            if others:
                listed = ", ".join(sorted({u.path[1] for u in others})[:3])
                text += f"; '{tehsil}' is a tehsil of {listed}"
            t_reason[g] = reason_id(text, reasons)

    row_d_reason = d_reason[d_groups]
    row_t_reason = t_reason[t_groups]
    row_t_flag = t_flag[t_groups]
    reason_texts = list(reasons)
    flag_texts = list(flags_text)

    def split(values: np.ndarray, texts: list[str]) -> list[tuple[np.ndarray, str]]:
        rows = np.flatnonzero(values >= 0)
        if not len(rows):
            return []
        ids = values[rows]
        order = np.argsort(ids, kind="stable")
        rows, ids = rows[order], ids[order]
        cuts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[cuts[1:], len(ids)]
        return [(rows[a:b], texts[int(ids[a])]) for a, b in zip(cuts, ends, strict=True)]

    return UnitCheck(
        rejects=split(row_d_reason, reason_texts) + split(row_t_reason, reason_texts),
        flags=split(row_t_flag, flag_texts),
        district=np.where(row_d_reason >= 0, -1, d_position[d_groups]),
    )
