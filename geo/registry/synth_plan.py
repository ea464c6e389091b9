"""The static plan of the demo population: everything derived from the real data.

:func:`_plan` reads the districts, settlements and tehsils once per process and derives, per
district, what :mod:`rahat.geo.registry.synth_households` needs to draw its households: the
settlement mixture households cluster around, the settlements that make a household urban or
remote, and its tehsils (see :mod:`rahat.geo.registry.synth` for the calibration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from rahat.geo.paths import reference_file
from rahat.geo.registry import synth_calibration as cal

_STATISTICS_FILE = "admin/osm_2023_districts/statistics.json"
_KM_PER_DEG_LAT = 110.57
_KM_PER_DEG_LON = 111.32


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
    #: The district's NSER registration centres (:mod:`rahat.geo.registration_centres`).
    drc_lon: np.ndarray
    drc_lat: np.ndarray


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


@dataclass(frozen=True)
class _Towns:
    """GeoNames settlements: lon, lat, population and spread (km) of each."""

    lon: np.ndarray
    lat: np.ndarray
    population: np.ndarray
    spread_km: np.ndarray


@dataclass(frozen=True)
class _Tehsils:
    """Tehsil categories and the Sindh COD-AB tehsil polygons."""

    frame: Any
    geoms: np.ndarray
    names: tuple[str, ...]
    pcodes: tuple[str, ...]
    #: PBS tehsil names of each district outside Sindh (assigned by angular sector).
    sectors: dict[str, list[str]]


def _tehsils() -> _Tehsils:
    """Tehsil categories: COD-AB Sindh names plus PBS names of the other districts."""
    import shapely

    from rahat.geo import boundaries

    tehsils = boundaries.sindh_tehsils()
    gazetteer = boundaries.tehsil_names()
    sectors: dict[str, list[str]] = {}
    for (province, district), group in gazetteer.groupby(["province", "district"], sort=True):
        if province != cal.SINDH:
            sectors[str(district)] = sorted(set(group["tehsil"].astype(str)))
    geoms = tehsils.geometry.to_numpy()
    shapely.prepare(geoms)
    return _Tehsils(
        frame=tehsils,
        geoms=geoms,
        names=tuple(sorted(set(tehsils["tehsil"]).union(*sectors.values()))),
        pcodes=tuple(sorted(tehsils["tehsil_pcode"])),
        sectors=sectors,
    )


def _mixture(
    geom: object, centre: tuple[float, float], population: float, towns: _Towns
) -> dict[str, Any]:
    """The Gaussian components (settlements inside the district, its centre) and weights."""
    import shapely

    cx, cy = centre
    coslat = np.cos(np.radians(cy))
    t_pop = towns.population
    inside = shapely.contains_xy(geom, towns.lon, towns.lat) & (t_pop > 0)
    lo, hi = cal.SETTLEMENT_SHARE_RANGE
    town_share = float(np.clip(t_pop[inside].sum() / population, lo, hi)) if inside.any() else 0
    town_w = t_pop[inside] / t_pop[inside].sum() * town_share if inside.any() else np.empty(0)
    size_deg = np.sqrt(float(shapely.area(geom)))
    spread = towns.spread_km[inside]
    comp_w = np.concatenate([town_w, [cal.CENTRE_SHARE]])
    return {
        "comp_lon": np.concatenate([towns.lon[inside], [cx]]),
        "comp_lat": np.concatenate([towns.lat[inside], [cy]]),
        "comp_sx": np.concatenate(
            [spread / (_KM_PER_DEG_LON * coslat), [cal.CENTRE_SPREAD * size_deg]]
        ),
        "comp_sy": np.concatenate([spread / _KM_PER_DEG_LAT, [cal.CENTRE_SPREAD * size_deg]]),
        "comp_weight": comp_w,
        "uniform_weight": max(1.0 - comp_w.sum(), 0.0),
    }


def _near_settlements(
    bounds: tuple[float, float, float, float], centre: tuple[float, float], towns: _Towns
) -> dict[str, Any]:
    """Settlements for remoteness and urban status.

    Those within 0.3 degrees of the district's box, and the three closest to its centre.
    """
    x0, y0, x1, y1 = bounds
    cx, cy = centre
    coslat = np.cos(np.radians(cy))
    t_lon, t_lat = towns.lon, towns.lat
    pad = 0.3
    near = (t_lon >= x0 - pad) & (t_lon <= x1 + pad) & (t_lat >= y0 - pad) & (t_lat <= y1 + pad)
    near[np.argsort(np.hypot((t_lon - cx) * coslat, t_lat - cy))[:3]] = True
    return {
        "near_lon": t_lon[near],
        "near_lat": t_lat[near],
        "near_radius_km": cal.URBAN_RADIUS_FACTOR * towns.spread_km[near],
    }


def _district_tehsils(name: str, province: str, pcode: object, tehsils: _Tehsils) -> dict[str, Any]:
    """The tehsil fields of one district: COD-AB polygons in Sindh, else PBS sectors."""
    import shapely

    fields: dict[str, Any] = {
        "also_inside": None,
        "tehsil_geoms": (),
        "tehsil_codes": np.empty(0, np.int16),
        "tehsil_pcode_codes": np.empty(0, np.int16),
        "sector_codes": np.empty(0, np.int16),
    }
    tehsil_index = {n: i for i, n in enumerate(tehsils.names)}
    if province == cal.SINDH and isinstance(pcode, str):
        # Only the district's own COD-AB tehsils, so a household's tehsil always lies in
        # its district; households are placed where the OSM district and those tehsils
        # overlap (COD-AB and OSM lines differ by a few percent of the area).
        tpcode_index = {p: i for i, p in enumerate(tehsils.pcodes)}
        frame = tehsils.frame
        hits = np.flatnonzero(frame["district_pcode"].to_numpy() == pcode)
        also_inside = shapely.union_all(tehsils.geoms[hits])
        shapely.prepare(also_inside)
        fields["also_inside"] = also_inside
        fields["tehsil_geoms"] = tuple(tehsils.geoms[hits])
        fields["tehsil_codes"] = np.array(
            [tehsil_index[n] for n in frame["tehsil"].to_numpy()[hits]], np.int16
        )
        fields["tehsil_pcode_codes"] = np.array(
            [tpcode_index[p] for p in frame["tehsil_pcode"].to_numpy()[hits]], np.int16
        )
    elif name in tehsils.sectors:
        fields["sector_codes"] = np.array(
            [tehsil_index[n] for n in tehsils.sectors[name]], np.int16
        )
    return fields


@cache
def _plan() -> _Plan:
    """Derive every district's :class:`_District` from the reference data (once per process)."""
    import shapely

    from rahat.geo import boundaries
    from rahat.geo.registration_centres import registration_centres

    frame = boundaries.districts()
    towns_frame = boundaries.settlements()
    tehsils = _tehsils()
    centres = registration_centres().groupby(["province", "district"], sort=False)

    names = frame["district"].tolist()
    provs = frame["province"].tolist()
    geoms = frame.geometry.to_numpy()
    shapely.prepare(geoms)
    development = _development_index(names, provs)
    provinces = tuple(sorted(set(provs)))
    district_names = tuple(sorted(names))
    pcodes = frame["district_pcode"].tolist()
    district_pcodes = tuple(sorted({p for p in pcodes if isinstance(p, str)}))
    t_pop = towns_frame["population"].to_numpy().astype(float)
    towns = _Towns(
        lon=towns_frame["lon"].to_numpy(),
        lat=towns_frame["lat"].to_numpy(),
        population=t_pop,
        spread_km=_spread_km(t_pop),
    )

    out = []
    for i, geom in enumerate(geoms):
        x0, y0, x1, y1 = shapely.bounds(geom)
        bounds = (float(x0), float(y0), float(x1), float(y1))
        point = shapely.point_on_surface(geom)
        centre = (float(shapely.get_x(point)), float(shapely.get_y(point)))
        population = float(frame["population"].iat[i])
        pcode = pcodes[i]
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
                bounds=bounds,
                centre=centre,
                **_mixture(geom, centre, population, towns),
                **_near_settlements(bounds, centre, towns),
                **_district_tehsils(names[i], provs[i], pcode, tehsils),
                drc_lon=centres.get_group((provs[i], names[i]))["lon"].to_numpy(),
                drc_lat=centres.get_group((provs[i], names[i]))["lat"].to_numpy(),
            )
        )
    return _Plan(
        districts=tuple(out),
        provinces=provinces,
        district_names=district_names,
        tehsil_names=tehsils.names,
        district_pcodes=district_pcodes,
        tehsil_pcodes=tehsils.pcodes,
    )
