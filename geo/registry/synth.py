"""Census-calibrated synthetic household population and demo registry.

:func:`synthesize` draws a population of households over the 156 real districts and
:func:`write_demo` writes it as ``population.parquet`` (every household, with a ``registered``
column) and ``registry.parquet`` (the registered subset, the demo NSER).

How it is calibrated (numbers in :mod:`rahat.geo.registry.synth_calibration`):

* Households per district follow the 2023 census counts (documented estimates for AJK and GB),
  allocated with largest-remainder rounding so the total is exact.
* Every household lies strictly inside its real district polygon (rejection sampling with
  ``shapely.contains_xy``), denser around GeoNames settlements and the district centre.
* Sindh households carry the OCHA COD-AB tehsil that contains them, always one of their own
  district's: they are placed where the OSM district and its COD-AB tehsils overlap (Keamari,
  which COD-AB predates, has no tehsils and its households none). Elsewhere there are no
  tehsil polygons: PBS tehsil names are assigned by angular sector around the district
  centre. These tehsils are **synthetic**; a district without matching names has none.
* A welfare latent (province, census development indicators, urban, remoteness) maps to the
  PMT score, shifted so that 40 % of households score at or below 32.
* NSER exclusion follows *Mind the Gap*: 16 % nationally, 26.2 % in Balochistan, 10.5 % in
  Khyber Pakhtunkhwa, higher for remote and poorer households; province totals hold exactly in
  expectation.

Results are deterministic for a seed: each district draws from its own stream of a
:class:`numpy.random.SeedSequence`, so the output does not depend on chunking.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.errors import InputError, TooLargeError
from rahat.geo.paths import reference_file
from rahat.geo.registry import synth_calibration as cal
from rahat.geo.registry.schema import (
    PROGRAMME_SEPARATOR,
    PROGRAMMES,
    REGISTERED_COLUMN,
    Dwelling,
    Livelihood,
)

if TYPE_CHECKING:
    import pandas as pd

#: Largest population :func:`synthesize` accepts.
MAX_HOUSEHOLDS = 100_000_000

#: File names written by :func:`write_demo`.
POPULATION_FILE = "population.parquet"
REGISTRY_FILE = "registry.parquet"

Progress = Callable[[str, float], None]

_STATISTICS_FILE = "admin/osm_2023_districts/statistics.json"
_KM_PER_DEG_LAT = 110.57
_KM_PER_DEG_LON = 111.32
_MAX_GAUSSIAN_ROUNDS = 8
_MAX_ROUNDS = 10_000
_SOLVER_BINS = 2048
_ID_BITS = (1 << 53) - 1
_ID_MASK = np.uint64(_ID_BITS)


# ------------------------------------------------------------------------------------------
# Static plan: everything derived from the real data, once per process
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _District:
    """What the generator needs to know about one district."""

    index: int
    name: str
    province: str
    province_code: int
    district_code: int
    district_pcode_code: int
    households: int
    mean_size: float
    development: float
    coastal: bool
    geometry: object
    #: Sindh: the union of the district's own COD-AB tehsils; households lie in both polygons.
    also_inside: object | None
    bounds: tuple[float, float, float, float]
    centre: tuple[float, float]
    #: Gaussian components: lon, lat, sigma_lon, sigma_lat (degrees) and weight (sums to 1 with
    #: the uniform component, whose weight is ``uniform_weight``).
    comp_lon: np.ndarray
    comp_lat: np.ndarray
    comp_sx: np.ndarray
    comp_sy: np.ndarray
    comp_weight: np.ndarray
    uniform_weight: float
    #: Settlements used for remoteness and urban status: lon, lat, urban radius (km).
    near_lon: np.ndarray
    near_lat: np.ndarray
    near_radius_km: np.ndarray
    #: Sindh: tehsil polygons (prepared), their tehsil and tehsil-P-code category codes.
    tehsil_geoms: tuple[object, ...]
    tehsil_codes: np.ndarray
    tehsil_pcode_codes: np.ndarray
    #: Elsewhere: tehsil category codes by angular sector (empty: no tehsil).
    sector_codes: np.ndarray


@dataclass(frozen=True)
class _Plan:
    districts: tuple[_District, ...]
    provinces: tuple[str, ...]
    district_names: tuple[str, ...]
    tehsil_names: tuple[str, ...]
    district_pcodes: tuple[str, ...]
    tehsil_pcodes: tuple[str, ...]


def _development_index(names: list[str], provinces: list[str]) -> np.ndarray:
    """Return a standardised development index per district.

    The index is the mean z-score of the 2023 census literacy rate, improved water share and
    flush toilet share (AJK and GB: documented assumptions).
    """
    stats = json.loads(reference_file(_STATISTICS_FILE).read_text())["districts"]
    values = np.empty((len(names), 3))
    for i, (name, province) in enumerate(zip(names, provinces, strict=True)):
        dev = stats.get(name, {}).get("development")
        if dev is None:
            values[i] = cal.UNPUBLISHED_DEVELOPMENT.get(province, (0.6, 0.8, 0.6))
        else:
            values[i] = (
                dev["literacy"]["rate"],
                dev["water"]["improvedShare"],
                dev["sanitation"]["flushToiletShare"],
            )
    z = (values - values.mean(axis=0)) / values.std(axis=0)
    index = z.mean(axis=1)
    return (index - index.mean()) / index.std()


def _spread_km(population: np.ndarray) -> np.ndarray:
    return cal.SETTLEMENT_SPREAD_KM * (np.maximum(population, 1000) / 1000.0) ** 0.4


@cache
def _plan() -> _Plan:
    import shapely

    from rahat.geo import boundaries

    frame = boundaries.districts()
    towns = boundaries.settlements()
    tehsils = boundaries.sindh_tehsils()
    gazetteer = boundaries.tehsil_names()

    names = frame["district"].tolist()
    provs = frame["province"].tolist()
    geoms = frame.geometry.to_numpy()
    shapely.prepare(geoms)
    development = _development_index(names, provs)
    provinces = tuple(sorted(set(provs)))
    district_names = tuple(sorted(names))
    pcodes = frame["district_pcode"].tolist()
    district_pcodes = tuple(sorted({p for p in pcodes if isinstance(p, str)}))

    # Tehsil categories: COD-AB Sindh names plus PBS names of the other districts.
    sectors: dict[str, list[str]] = {}
    for (province, district), group in gazetteer.groupby(["province", "district"], sort=True):
        if province != cal.SINDH:
            sectors[str(district)] = sorted(set(group["tehsil"].astype(str)))
    tehsil_names = tuple(sorted(set(tehsils["tehsil"]).union(*sectors.values())))
    tehsil_pcodes = tuple(sorted(tehsils["tehsil_pcode"]))
    tehsil_index = {n: i for i, n in enumerate(tehsil_names)}
    tpcode_index = {p: i for i, p in enumerate(tehsil_pcodes)}
    teh_geoms = tehsils.geometry.to_numpy()
    shapely.prepare(teh_geoms)

    t_lon = towns["lon"].to_numpy()
    t_lat = towns["lat"].to_numpy()
    t_pop = towns["population"].to_numpy().astype(float)
    t_spread = _spread_km(t_pop)

    out = []
    for i, geom in enumerate(geoms):
        x0, y0, x1, y1 = shapely.bounds(geom)
        centre = shapely.point_on_surface(geom)
        cx, cy = float(shapely.get_x(centre)), float(shapely.get_y(centre))
        coslat = np.cos(np.radians(cy))
        inside = shapely.contains_xy(geom, t_lon, t_lat) & (t_pop > 0)
        population = float(frame["population"].iat[i])
        lo, hi = cal.SETTLEMENT_SHARE_RANGE
        town_share = float(np.clip(t_pop[inside].sum() / population, lo, hi)) if inside.any() else 0
        town_w = t_pop[inside] / t_pop[inside].sum() * town_share if inside.any() else np.empty(0)
        size_deg = np.sqrt(float(shapely.area(geom)))
        comp_lon = np.concatenate([t_lon[inside], [cx]])
        comp_lat = np.concatenate([t_lat[inside], [cy]])
        spread = t_spread[inside]
        comp_sx = np.concatenate(
            [spread / (_KM_PER_DEG_LON * coslat), [cal.CENTRE_SPREAD * size_deg]]
        )
        comp_sy = np.concatenate([spread / _KM_PER_DEG_LAT, [cal.CENTRE_SPREAD * size_deg]])
        comp_w = np.concatenate([town_w, [cal.CENTRE_SHARE]])
        uniform_w = max(1.0 - comp_w.sum(), 0.0)
        # Settlements near the district for remoteness: within 0.3 degrees of its box, or the
        # three closest to its centre.
        pad = 0.3
        near = (t_lon >= x0 - pad) & (t_lon <= x1 + pad) & (t_lat >= y0 - pad) & (t_lat <= y1 + pad)
        near[np.argsort(np.hypot((t_lon - cx) * coslat, t_lat - cy))[:3]] = True
        # Tehsils.
        teh_geo: tuple[object, ...] = ()
        teh_codes = np.empty(0, np.int16)
        teh_pcodes = np.empty(0, np.int16)
        sector = np.empty(0, np.int16)
        pcode = pcodes[i]
        also_inside = None
        if provs[i] == cal.SINDH and isinstance(pcode, str):
            # Only the district's own COD-AB tehsils, so a household's tehsil always lies in
            # its district; households are placed where the OSM district and those tehsils
            # overlap (COD-AB and OSM lines differ by a few percent of the area).
            hits = np.flatnonzero(tehsils["district_pcode"].to_numpy() == pcode)
            teh_geo = tuple(teh_geoms[hits])
            also_inside = shapely.union_all(teh_geoms[hits])
            shapely.prepare(also_inside)
            teh_codes = np.array(
                [tehsil_index[n] for n in tehsils["tehsil"].to_numpy()[hits]], np.int16
            )
            teh_pcodes = np.array(
                [tpcode_index[p] for p in tehsils["tehsil_pcode"].to_numpy()[hits]], np.int16
            )
        elif names[i] in sectors:
            sector = np.array([tehsil_index[n] for n in sectors[names[i]]], np.int16)
        out.append(
            _District(
                index=i,
                name=names[i],
                province=provs[i],
                province_code=provinces.index(provs[i]),
                district_code=district_names.index(names[i]),
                district_pcode_code=district_pcodes.index(pcode) if isinstance(pcode, str) else -1,
                households=int(frame["households"].iat[i]),
                mean_size=population / float(frame["households"].iat[i]),
                development=float(development[i]),
                coastal=names[i] in cal.COASTAL_DISTRICTS,
                geometry=geom,
                also_inside=also_inside,
                bounds=(float(x0), float(y0), float(x1), float(y1)),
                centre=(cx, cy),
                comp_lon=comp_lon,
                comp_lat=comp_lat,
                comp_sx=comp_sx,
                comp_sy=comp_sy,
                comp_weight=comp_w,
                uniform_weight=uniform_w,
                near_lon=t_lon[near],
                near_lat=t_lat[near],
                near_radius_km=cal.URBAN_RADIUS_FACTOR * t_spread[near],
                tehsil_geoms=teh_geo,
                tehsil_codes=teh_codes,
                tehsil_pcode_codes=teh_pcodes,
                sector_codes=sector,
            )
        )
    return _Plan(
        districts=tuple(out),
        provinces=provinces,
        district_names=district_names,
        tehsil_names=tehsil_names,
        district_pcodes=district_pcodes,
        tehsil_pcodes=tehsil_pcodes,
    )


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` with largest-remainder rounding."""
    quota = total * weights / weights.sum()
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        order = np.argsort(-(quota - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _mix53(x: np.ndarray) -> np.ndarray:
    """Bijective 53-bit splitmix-style mixer (uint64 in, uint64 < 2**53 out, 0 -> 0).

    Xor-shifts and odd multiplications modulo ``2**53`` are invertible, so distinct inputs
    below ``2**53`` give distinct outputs.
    """
    x = x & _ID_MASK
    x = ((x ^ (x >> np.uint64(26))) * np.uint64(0xBF58476D1CE4E5B9 & _ID_BITS)) & _ID_MASK
    x = ((x ^ (x >> np.uint64(24))) * np.uint64(0x94D049BB133111EB & _ID_BITS)) & _ID_MASK
    return x ^ (x >> np.uint64(27))


def household_ids(seed: int, start: int, count: int) -> np.ndarray:
    """Return pseudonymous household ids for running indices ``start .. start + count - 1``.

    The ids are a keyed bijective mix of the running index, so they are unique for any
    ``count`` below ``2**40`` and stable for a seed. They are positive and below ``2**53``, so
    they survive JSON and JavaScript numbers and float64 casts exactly.

    Parameters
    ----------
    seed
        Generator seed (the key).
    start, count
        First running index and number of ids.

    Returns
    -------
    numpy.ndarray
        ``int64`` ids in ``[1, 2**53)``.
    """
    key = np.array([seed & ((1 << 64) - 1)], np.uint64) ^ np.uint64(0x5851F42D4C957F2D)
    key = _mix53(key) % np.uint64(_ID_BITS - (1 << 41)) + np.uint64(1)
    index = np.arange(start, start + count, dtype=np.uint64)
    return _mix53(key + index).astype(np.int64)


def _logit(p: float | np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sample_points(d: _District, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points strictly inside the district polygon from its mixture."""
    import shapely

    weights = np.append(d.comp_weight, d.uniform_weight)
    counts = rng.multinomial(n, weights / weights.sum())
    comp = np.repeat(np.arange(len(weights), dtype=np.int32), counts)
    n_gauss = len(d.comp_weight)
    lon = np.empty(n)
    lat = np.empty(n)
    pending = np.arange(n)
    x0, y0, x1, y1 = d.bounds
    for round_ in range(_MAX_ROUNDS):
        if round_ == _MAX_GAUSSIAN_ROUNDS:  # give up on stubborn Gaussian draws: go uniform
            comp[pending] = n_gauss
        c = comp[pending]
        gauss = c < n_gauss
        cg = c[gauss]
        x = np.empty(len(pending))
        y = np.empty(len(pending))
        x[gauss] = d.comp_lon[cg] + d.comp_sx[cg] * rng.standard_normal(len(cg))
        y[gauss] = d.comp_lat[cg] + d.comp_sy[cg] * rng.standard_normal(len(cg))
        nu = len(pending) - len(cg)
        x[~gauss] = rng.uniform(x0, x1, nu)
        y[~gauss] = rng.uniform(y0, y1, nu)
        ok = shapely.contains_xy(d.geometry, x, y)
        if d.also_inside is not None:
            ok[ok] = shapely.contains_xy(d.also_inside, x[ok], y[ok])
        lon[pending[ok]] = x[ok]
        lat[pending[ok]] = y[ok]
        pending = pending[~ok]
        if not len(pending):
            return lon, lat
    raise RuntimeError(f"could not place households inside district {d.name}")  # pragma: no cover


def _assign_tehsils(
    d: _District, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return tehsil and tehsil-P-code category codes (-1: none) for points of one district."""
    import shapely

    n = len(lon)
    tehsil = np.full(n, -1, np.int16)
    tpcode = np.full(n, -1, np.int16)
    if d.tehsil_geoms:
        pending = np.arange(n)
        for geom, code, pcode in zip(
            d.tehsil_geoms, d.tehsil_codes, d.tehsil_pcode_codes, strict=True
        ):
            if not len(pending):
                break
            hit = shapely.contains_xy(geom, lon[pending], lat[pending])
            tehsil[pending[hit]] = code
            tpcode[pending[hit]] = pcode
            pending = pending[~hit]
        if len(pending):  # on a line between two of its tehsils: the nearest one
            points = shapely.points(lon[pending], lat[pending])
            dist = np.stack([shapely.distance(g, points) for g in d.tehsil_geoms])
            nearest = dist.argmin(axis=0)
            tehsil[pending] = d.tehsil_codes[nearest]
            tpcode[pending] = d.tehsil_pcode_codes[nearest]
    elif len(d.sector_codes):
        angle = np.arctan2(lat - d.centre[1], lon - d.centre[0])
        k = len(d.sector_codes)
        sector = np.floor((angle + np.pi) / (2 * np.pi) * k).astype(np.int64) % k
        tehsil[:] = d.sector_codes[sector]
    return tehsil, tpcode


def _nearest_settlement(
    d: _District, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return km to the nearest settlement (float32) and whether the point is urban."""
    coslat = np.float32(np.cos(np.radians(d.centre[1])))
    best = np.full(len(lon), np.inf, np.float32)
    ratio = np.full(len(lon), np.inf, np.float32)
    x = lon.astype(np.float32)
    y = lat.astype(np.float32)
    for sx, sy, radius in zip(d.near_lon, d.near_lat, d.near_radius_km, strict=True):
        dx = (x - np.float32(sx)) * (coslat * np.float32(_KM_PER_DEG_LON))
        dy = (y - np.float32(sy)) * np.float32(_KM_PER_DEG_LAT)
        d2 = dx * dx + dy * dy
        np.minimum(best, d2, out=best)
        np.minimum(ratio, d2 / np.float32(radius * radius), out=ratio)
    return np.sqrt(best), ratio <= 1.0


# ------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Preallocated output columns (filled per district) and working arrays."""

    household_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    province: np.ndarray
    district: np.ndarray
    tehsil: np.ndarray
    district_pcode: np.ndarray
    tehsil_pcode: np.ndarray
    pmt_score: np.ndarray
    household_size: np.ndarray
    children_under5: np.ndarray
    elderly: np.ndarray
    disabled: np.ndarray
    female_headed: np.ndarray
    dwelling: np.ndarray
    livelihood: np.ndarray
    last_updated: np.ndarray
    registered_on: np.ndarray
    programmes: np.ndarray
    registered: np.ndarray
    remote: np.ndarray  # log1p(km to nearest settlement), working array

    @classmethod
    def empty(cls, n: int) -> _Columns:
        return cls(
            household_id=np.empty(n, np.int64),
            lon=np.empty(n, np.float64),
            lat=np.empty(n, np.float64),
            province=np.empty(n, np.int8),
            district=np.empty(n, np.int16),
            tehsil=np.empty(n, np.int16),
            district_pcode=np.empty(n, np.int8),
            tehsil_pcode=np.empty(n, np.int16),
            pmt_score=np.empty(n, np.float32),  # holds the welfare latent until calibrated
            household_size=np.empty(n, np.int16),
            children_under5=np.empty(n, np.int16),
            elderly=np.empty(n, np.int16),
            disabled=np.empty(n, np.int16),
            female_headed=np.empty(n, np.bool_),
            dwelling=np.empty(n, np.int8),
            livelihood=np.empty(n, np.int8),
            last_updated=np.empty(n, "datetime64[s]"),
            registered_on=np.empty(n, "datetime64[s]"),
            programmes=np.empty(n, np.int8),
            registered=np.empty(n, np.bool_),
            remote=np.empty(n, np.float32),
        )


def _livelihood_shares(d: _District, urban: bool) -> np.ndarray:
    if urban:
        shares = np.array(cal.LIVELIHOOD_URBAN, np.float64)
        extra = cal.URBAN_REMITTANCES.get(d.province, 0.0)
        shares[6] += extra
        shares[3] -= extra
    else:
        shares = np.array(cal.LIVELIHOOD_RURAL[d.province], np.float64)
    if d.coastal:
        fishing = cal.COASTAL_FISHING[0 if not urban else 1]
        shares = shares * (1.0 - fishing)
        shares[2] += fishing
    return shares / shares.sum()


def _draw_livelihood(
    d: _District, urban: np.ndarray, welfare: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    log_base = np.log(
        np.stack([_livelihood_shares(d, False), _livelihood_shares(d, True)]) + 1e-12
    ).astype(np.float32)
    slope = np.asarray(cal.LIVELIHOOD_WELFARE_SLOPE, np.float32)
    logits = log_base[urban.astype(np.intp)] + welfare[:, None] * slope[None, :]
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(urban), dtype=np.float32) * cum[:, -1]
    return (cum < u[:, None]).sum(axis=1).clip(0, len(slope) - 1).astype(np.int8)


def _draw_dwelling(
    d: _District, urban: np.ndarray, welfare: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    kacha_r, semi_r = cal.DWELLING_RURAL[d.province]
    kacha_u, semi_u = cal.DWELLING_URBAN[d.province]
    cut1 = np.where(urban, _logit(kacha_u), _logit(kacha_r)).astype(np.float32)
    cut2 = np.where(urban, _logit(kacha_u + semi_u), _logit(kacha_r + semi_r)).astype(np.float32)
    u = rng.random(len(urban), dtype=np.float32).clip(1e-7, 1 - 1e-7)
    eta = np.log(u) - np.log1p(-u) + np.float32(cal.DWELLING_WELFARE_SLOPE) * welfare
    return ((eta >= cut1).astype(np.int8) + (eta >= cut2).astype(np.int8)).astype(np.int8)


def _draw_dates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (last_updated, first registration) as datetime64[s]."""
    waves = (cal.SURVEY_2011, cal.DESK_REGISTRATION, cal.UPDATE_2021)
    wave = rng.choice(3, size=n, p=np.asarray(cal.UPDATE_WAVE_SHARES))
    start = np.array([w[0] for w in waves], "datetime64[D]")
    span = np.array([(w[1] - w[0]).astype(int) + 1 for w in waves])
    u = rng.random((3, n))
    last = start[wave] + (u[0] * span[wave]).astype(np.int64).astype("timedelta64[D]")
    s0, s1 = (np.asarray(d, dtype="datetime64[D]") for d in cal.SURVEY_2011)
    first_2011 = (wave == 0) | (u[1] < cal.FIRST_REGISTERED_2011)
    until = np.minimum(last, s1)
    in_survey = s0 + (u[2] * ((until - s0).astype(np.int64) + 1)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    at_desk = last - (u[2] * 30).astype(np.int64).astype("timedelta64[D]")
    first = np.where(first_2011, in_survey, at_desk)
    return last.astype("datetime64[s]"), first.astype("datetime64[s]")


def _fill_district(
    d: _District, cols: _Columns, start: int, n: int, seed: int, rng: np.random.Generator
) -> None:
    """Stage 1: everything but the PMT calibration and registration, for one district."""
    s = slice(start, start + n)
    lon, lat = _sample_points(d, n, rng)
    cols.lon[s] = lon
    cols.lat[s] = lat
    cols.household_id[s] = household_ids(seed, start, n)
    cols.province[s] = d.province_code
    cols.district[s] = d.district_code
    cols.district_pcode[s] = d.district_pcode_code
    cols.tehsil[s], cols.tehsil_pcode[s] = _assign_tehsils(d, lon, lat)
    km, urban = _nearest_settlement(d, lon, lat)
    remote = np.log1p(km)
    cols.remote[s] = remote

    welfare = (
        np.float32(cal.PROVINCE_WELFARE[d.province] + cal.DEVELOPMENT_WELFARE * d.development)
        + np.float32(cal.URBAN_WELFARE) * urban
        + np.float32(cal.REMOTE_WELFARE) * remote
        + np.float32(cal.WELFARE_SIGMA) * rng.standard_normal(n, dtype=np.float32)
    )
    cols.pmt_score[s] = welfare

    # Poorer households are larger; the tilt is normalised so the district mean size holds.
    tilt = np.exp(cal.SIZE_WELFARE_SLOPE * (welfare - welfare.mean(dtype=np.float64)))
    lam = (
        (d.mean_size - 1.0)
        * (tilt / tilt.mean(dtype=np.float64))
        * rng.gamma(cal.SIZE_GAMMA_SHAPE, 1.0 / cal.SIZE_GAMMA_SHAPE, n)
    )
    size = np.minimum(1 + rng.poisson(lam), 60)
    p_child = np.clip(cal.UNDER5_SHARE[0] + cal.UNDER5_SHARE[1] * welfare, 0.02, 0.4)
    children = rng.binomial(size, p_child)
    elderly = rng.binomial(size - children, cal.ELDERLY_SHARE / (1.0 - cal.UNDER5_SHARE[0]))
    cols.household_size[s] = size
    cols.children_under5[s] = children
    cols.elderly[s] = elderly
    cols.disabled[s] = rng.binomial(size, cal.DISABLED_SHARE)
    cols.female_headed[s] = rng.random(n, dtype=np.float32) < cal.FEMALE_HEADED[d.province]
    cols.dwelling[s] = _draw_dwelling(d, urban, welfare, rng)
    cols.livelihood[s] = _draw_livelihood(d, urban, welfare, rng)
    cols.last_updated[s], cols.registered_on[s] = _draw_dates(n, rng)


def _calibrate_pmt(welfare: np.ndarray) -> None:
    """Map the welfare latent to PMT scores in place so 40 % score at or below the cut-off."""
    k = int(cal.SHARE_AT_OR_BELOW_CUTOFF * (len(welfare) - 1))
    quantile = float(np.partition(welfare, k)[k])
    shift = np.float32(_logit(cal.PMT_CUTOFF / 100.0) - quantile)
    welfare += shift
    # 100 * sigmoid, rounded to 0.01, in place
    np.multiply(welfare, np.float32(0.5), out=welfare)
    np.tanh(welfare, out=welfare)
    np.multiply(welfare, np.float32(50.0), out=welfare)
    np.add(welfare, np.float32(50.0), out=welfare)
    np.round(welfare, 2, out=welfare)


def province_exclusion(households: dict[str, float]) -> dict[str, float]:
    """Return the NSER exclusion rate of each province.

    Balochistan and Khyber Pakhtunkhwa take their published *Mind the Gap* rates; the other
    provinces share one rate (times their documented relative factor) solved so that the
    household-weighted national coverage is :data:`~synth_calibration.NATIONAL_COVERAGE`.

    Parameters
    ----------
    households
        Households (or shares) per province.

    Returns
    -------
    dict
        Exclusion rate (0-1) per province.
    """
    total = sum(households.values())
    target = (1.0 - cal.NATIONAL_COVERAGE) * total
    published = sum(households.get(p, 0.0) * rate for p, rate in cal.PUBLISHED_EXCLUSION.items())
    others = {p: h for p, h in households.items() if p not in cal.PUBLISHED_EXCLUSION}
    relative = sum(h * cal.UNPUBLISHED_EXCLUSION_RELATIVE.get(p, 1.0) for p, h in others.items())
    base = (target - published) / relative if relative > 0 else 0.0
    rates = {p: cal.PUBLISHED_EXCLUSION[p] for p in households if p in cal.PUBLISHED_EXCLUSION}
    for p in others:
        rates[p] = float(np.clip(base * cal.UNPUBLISHED_EXCLUSION_RELATIVE.get(p, 1.0), 0, 1))
    return rates


def _solve_intercept(tilt: np.ndarray, target: float) -> float:
    """Return ``a`` with ``mean(sigmoid(a + tilt)) == target`` (binned, bisection)."""
    if target <= 0.0:
        return -np.inf
    if target >= 1.0:
        return np.inf
    lo_t, hi_t = float(tilt.min()), float(tilt.max())
    counts, edges = np.histogram(tilt, bins=_SOLVER_BINS, range=(lo_t, hi_t + 1e-6))
    centres = 0.5 * (edges[:-1] + edges[1:])
    weights = counts / counts.sum()
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if float((weights * _sigmoid(mid + centres)).sum()) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


_PROGRAMME_BIT = {name: 1 << i for i, name in enumerate(PROGRAMMES)}


def programme_categories() -> tuple[str, ...]:
    """Return the ``programmes`` categories: every sorted ``|``-joined combination, by bitmask.

    Category ``k`` holds the programmes whose bit (their position in
    :data:`~rahat.geo.registry.schema.PROGRAMMES`) is set in ``k``; category 0 is ``""``.
    """
    return tuple(
        PROGRAMME_SEPARATOR.join(sorted(p for p in PROGRAMMES if mask & _PROGRAMME_BIT[p]))
        for mask in range(1 << len(PROGRAMMES))
    )


def _register_district(
    d: _District,
    cols: _Columns,
    s: slice,
    intercept: float,
    tilt: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Stage 3 for one district: registration, programme enrolments, registration dates."""
    n = len(tilt)
    excluded = rng.random(n) < _sigmoid(intercept + tilt)
    registered = ~excluded
    cols.registered[s] = registered
    pmt = cols.pmt_score[s]
    u = rng.random((5, n), dtype=np.float32)
    low = pmt <= cal.PMT_CUTOFF
    kafaalat = registered & (u[0] < np.where(low, *cal.KAFAALAT_TAKE_UP))
    taleemi = kafaalat & (cols.household_size[s] >= 4) & (u[1] < cal.TALEEMI_TAKE_UP)
    nashonuma = kafaalat & (cols.children_under5[s] > 0) & (u[2] < cal.NASHONUMA_TAKE_UP)
    sehat = registered & (u[3] < cal.SEHAT_TAKE_UP[d.province])
    zakat = registered & (pmt <= cal.ZAKAT[0]) & (u[4] < cal.ZAKAT[1])
    mask = (
        kafaalat * _PROGRAMME_BIT["bisp_kafaalat"]
        + taleemi * _PROGRAMME_BIT["bisp_taleemi"]
        + nashonuma * _PROGRAMME_BIT["bisp_nashonuma"]
        + sehat * _PROGRAMME_BIT["sehat_card"]
        + zakat * _PROGRAMME_BIT["zakat"]
    )
    cols.programmes[s] = mask.astype(np.int8)
    cols.registered_on[s][excluded] = np.datetime64("NaT")


def _check_arguments(n_households: int, seed: int) -> None:
    if isinstance(n_households, bool) or not isinstance(n_households, int | np.integer):
        raise InputError("must be a whole number of households", source="households")
    if n_households < 1:
        raise InputError(f"must be at least 1, got {n_households}", source="households")
    if n_households > MAX_HOUSEHOLDS:
        raise TooLargeError(
            f"{n_households:,} is more than the {MAX_HOUSEHOLDS:,} households the demo "
            "generator makes; ask for fewer",
            source="households",
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"must be a whole number >= 0, got {seed!r}", source="seed")


def synthesize(n_households: int, seed: int, *, progress: Progress | None = None) -> pd.DataFrame:
    """Draw a synthetic, census-calibrated household population for Pakistan.

    Parameters
    ----------
    n_households
        Number of households (1 to :data:`MAX_HOUSEHOLDS`); 40 M is national scale.
    seed
        Seed (``>= 0``); the same seed and size give the identical frame.
    progress
        Called as ``progress(stage, fraction)`` while working (stages ``"households"``,
        ``"pmt"``, ``"registration"``, ``"frame"``; fraction 0-1).

    Returns
    -------
    pandas.DataFrame
        One row per household with the registry columns of
        :mod:`rahat.geo.registry.schema` in canonical dtypes, plus the boolean column
        ``registered``. ``registered_on`` is NaT and ``programmes`` is ``""`` for households
        outside the registry. Rows are grouped by province and district.

    Raises
    ------
    InputError
        If ``n_households`` or ``seed`` is not usable; :class:`TooLargeError` above
        :data:`MAX_HOUSEHOLDS`.
    """
    _check_arguments(n_households, seed)
    n_households = int(n_households)
    seed = int(seed)

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, min(max(fraction, 0.0), 1.0))

    plan = _plan()
    dists = plan.districts
    counts = _allocate(n_households, np.array([d.households for d in dists], np.float64))
    starts = np.concatenate([[0], np.cumsum(counts)])
    streams = np.random.SeedSequence(seed).spawn(len(dists))
    rngs = [[np.random.default_rng(s) for s in ss.spawn(2)] for ss in streams]
    cols = _Columns.empty(n_households)

    report("households", 0.0)
    for d, start, n, (rng, _) in zip(dists, starts[:-1], counts, rngs, strict=True):
        if n:
            _fill_district(d, cols, int(start), int(n), seed, rng)
        report("households", (start + n) / n_households)

    report("pmt", 0.0)
    _calibrate_pmt(cols.pmt_score)
    report("pmt", 1.0)

    # Exclusion tilt: remote and poorer households are more often left out.
    remote = cols.remote
    pmt = cols.pmt_score
    r_mean, r_sd = float(remote.mean()), float(remote.std()) or 1.0
    p_mean, p_sd = float(pmt.mean()), float(pmt.std()) or 1.0
    per_province: dict[str, float] = {}
    for d, n in zip(dists, counts, strict=True):
        per_province[d.province] = per_province.get(d.province, 0.0) + float(n)
    exclusion = province_exclusion(per_province)
    report("registration", 0.0)
    # Districts are sorted by province, so each province is one contiguous slice.
    done = 0
    for province in dict.fromkeys(d.province for d in dists):
        members = [i for i, d in enumerate(dists) if d.province == province]
        s = slice(int(starts[members[0]]), int(starts[members[-1] + 1]))
        if s.stop == s.start:
            continue
        tilt = np.float32(cal.EXCLUSION_REMOTE_TILT / r_sd) * (remote[s] - np.float32(r_mean))
        tilt -= np.float32(cal.EXCLUSION_POVERTY_TILT / p_sd) * (pmt[s] - np.float32(p_mean))
        intercept = _solve_intercept(tilt, exclusion[province])
        for i in members:
            ds = slice(int(starts[i]), int(starts[i + 1]))
            if ds.stop > ds.start:
                _register_district(
                    dists[i],
                    cols,
                    ds,
                    intercept,
                    tilt[ds.start - s.start : ds.stop - s.start],
                    rngs[i][1],
                )
        done += s.stop - s.start
        report("registration", done / n_households)

    report("frame", 0.0)
    frame = _to_frame(plan, cols)
    report("frame", 1.0)
    return frame


def _to_frame(plan: _Plan, cols: _Columns) -> pd.DataFrame:
    import pandas as pd

    def categorical(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical[str]:
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories), validate=False)

    data = {
        "household_id": cols.household_id,
        "lon": cols.lon,
        "lat": cols.lat,
        "province": categorical(cols.province, plan.provinces),
        "district": categorical(cols.district, plan.district_names),
        "tehsil": categorical(cols.tehsil, plan.tehsil_names),
        "district_pcode": categorical(cols.district_pcode, plan.district_pcodes),
        "tehsil_pcode": categorical(cols.tehsil_pcode, plan.tehsil_pcodes),
        "pmt_score": cols.pmt_score,
        "household_size": cols.household_size,
        "children_under5": cols.children_under5,
        "elderly": cols.elderly,
        "disabled": cols.disabled,
        "female_headed": cols.female_headed,
        "dwelling": categorical(cols.dwelling, tuple(v.value for v in Dwelling)),
        "livelihood": categorical(cols.livelihood, tuple(v.value for v in Livelihood)),
        "last_updated": cols.last_updated,
        "programmes": categorical(cols.programmes, programme_categories()),
        "registered_on": cols.registered_on,
        REGISTERED_COLUMN: cols.registered,
    }
    return pd.DataFrame(data, copy=False)


def _registered_subset(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the registered rows out of ``frame`` column by column, emptying ``frame``.

    Each column is released as soon as its subset is taken, so the peak memory is one frame
    plus one column rather than two frames.
    """
    import pandas as pd

    mask = frame.pop(REGISTERED_COLUMN).to_numpy()
    subset = {name: frame.pop(name)[mask].reset_index(drop=True) for name in list(frame.columns)}
    return pd.DataFrame(subset, copy=False)


def write_demo(
    n_households: int, seed: int, out_dir: str | Path, progress: Progress | None = None
) -> tuple[Path, Path]:
    """Generate a demo population and write ``population.parquet`` and ``registry.parquet``.

    Parameters
    ----------
    n_households, seed, progress
        As for :func:`synthesize`.
    out_dir
        Folder to write into (created if missing). Each file is written atomically.

    Returns
    -------
    tuple of pathlib.Path
        Paths of the population file (every household, with ``registered``) and the registry
        file (registered households only, without ``registered``).
    """
    from rahat.geo.registry.io import write_registry

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = synthesize(n_households, seed, progress=progress)
    if progress is not None:
        progress("writing", 0.0)
    population = write_registry(frame, out / POPULATION_FILE)
    if progress is not None:
        progress("writing", 0.5)
    registry = write_registry(_registered_subset(frame), out / REGISTRY_FILE)
    if progress is not None:
        progress("writing", 1.0)
    return population, registry
