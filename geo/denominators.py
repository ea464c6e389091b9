"""Denominators: how many households there are per admin unit, and where inside it.

Two sources of unit totals:

* :func:`district_households`: the 2023 census households per district (documented estimates
  for AJK and Gilgit-Baltistan), from :func:`rahat.geo.boundaries.districts`;
* :func:`tehsil_households`: the 2017 census per tehsil (Pakistan Bureau of Statistics, Census
  2017, compiled by C. Cookman; derived facts in ``data/population/census2017_tehsils``),
  projected to a date with each tehsil's 1998-2017 annual growth rate, and matched to the units
  Rahat knows by normalised name (:func:`match_report` lists every tehsil that matched none).

:func:`allocate` spreads unit totals over places inside each unit: GeoNames settlements (or any
points) or the cells of a population raster (counts of people per cell, any CRS). Units that
match no polygon and units with no place inside are reported, never dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rahat.geo import boundaries
from rahat.geo.errors import CRSError, InputError, NoOverlapError, UnreadableFileError
from rahat.geo.paths import reference_file
from rahat.geo.units import Level, gazetteer

if TYPE_CHECKING:
    import geopandas as gpd

_TEHSILS_2017_FILE = "population/census2017_tehsils/tehsils_2017.csv"

#: Reference date of the 2017 census figures (enumeration began on 15 March 2017).
CENSUS_2017_DATE = date(2017, 3, 15)

#: Province names of the 2017 tables -> Rahat's (FATA merged into Khyber Pakhtunkhwa in 2018).
PROVINCES_2017: dict[str, str] = {
    "BALOCHISTAN": "Balochistan",
    "FATA": "Khyber Pakhtunkhwa",
    "KP": "Khyber Pakhtunkhwa",
    "PUNJAB": "Punjab",
    "SINDH": "Sindh",
    "ISLAMABAD": "Islamabad Capital Territory",
}

#: Words that only say what kind of unit a name is; :func:`normalise_name` drops them.
_UNIT_WORDS = frozenset({"tehsil", "taluka", "sub", "division", "town", "district", "agency"})

#: Normalised 2017 district names -> the normalised name of the same district in Rahat.
_DISTRICT_ALIASES = {
    "tandomuhammadkhan": "tandomohammadkhan",
    "abbottabad": "abbotabad",
    "kachhi": "kachhibolan",
    "malakandprotectedarea": "malakand",
}

#: Normalised 2017 tehsil names -> the normalised COD-AB name of the same Sindh tehsil (spelling
#: variants only: the same place, spelt differently).
_TEHSIL_ALIASES = {
    "golarchisfrahu": "shaheedfazilrahu",
    "liaquatabad": "liaqatabad",
    "jamshedquarters": "jamshaid",
    "sehwan": "sehwansharif",
    "mirokhan": "meerokhan",
    "kambaralikhan": "qambaralikhan",
    "sujawaljunejo": "sijawaljunejo",
    "bakrani": "baqrani",
    "lyari": "liyari",
    "hussainbuxmari": "hussainbuxmuree",
    "mirwah": "tharimeerwah",
    "gulshaneiqbal": "gulshaniqbal",
    "sukkurcity": "sukkur",
}

#: Allowed relative difference between a unit's total and the sum of its allocated households.
SUM_TOLERANCE = 1e-9


def normalise_name(name: str) -> str:
    """Return the key two spellings of one unit name share.

    ASCII-folded, lower case, words such as ``tehsil``, ``taluka``, ``sub-division``, ``town``
    dropped, then everything but letters and digits removed: ``"MEHRABPUR TALUKA"`` and
    ``"Mehrab Pur"`` both give ``"mehrabpur"``.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return "".join(w for w in re.split(r"[^0-9a-z]+", text) if w and w not in _UNIT_WORDS)


def district_households() -> pd.DataFrame:
    """Return the 2023 census households of the 156 districts.

    Returns
    -------
    pandas.DataFrame
        Columns ``province``, ``district``, ``code`` (Rahat unit code, see
        :mod:`rahat.geo.units`), ``pcode`` (COD-AB, Sindh only), ``households_2023`` and
        ``estimated`` (true for the AJK and Gilgit-Baltistan estimates).
    """
    frame = boundaries.districts()
    codes = gazetteer().codes_of(frame[["province", "district", "district_pcode"]])
    return pd.DataFrame(
        {
            "province": frame["province"],
            "district": frame["district"],
            "code": codes[Level.DISTRICT],
            "pcode": frame["district_pcode"],
            "households_2023": frame["households"].astype("int64"),
            "estimated": frame["households_estimated"].astype(bool),
        }
    )


@cache
def _tehsils_2017() -> pd.DataFrame:
    return pd.read_csv(reference_file(_TEHSILS_2017_FILE), keep_default_na=False)


@cache
def _matched_tehsils() -> pd.DataFrame:
    """The 2017 rows with Rahat's province, district code and tehsil unit code (or ``None``)."""
    units = gazetteer().units.values()
    district_code = {
        (u.path[0], normalise_name(u.name)): u.code for u in units if u.level == Level.DISTRICT
    }
    tehsil_code = {
        (u.parent, normalise_name(u.name)): u.code for u in units if u.level == Level.TEHSIL
    }
    frame = _tehsils_2017().copy()
    frame["province_2017"] = frame["province"]
    frame["province"] = frame["province_2017"].map(PROVINCES_2017)
    district_keys = frame["district"].map(normalise_name).replace(_DISTRICT_ALIASES)
    frame["district_code"] = [
        district_code.get((p, k)) for p, k in zip(frame["province"], district_keys, strict=True)
    ]
    tehsil_keys = frame["key"].replace(_TEHSIL_ALIASES)
    frame["unit_code"] = [
        tehsil_code.get((d, k)) if d is not None else None
        for d, k in zip(frame["district_code"], tehsil_keys, strict=True)
    ]
    pcodes = set(boundaries.sindh_tehsils()["tehsil_pcode"])
    frame["tehsil_pcode"] = [c if c in pcodes else None for c in frame["unit_code"]]
    return frame


def tehsil_households(as_of: date) -> pd.DataFrame:
    """Return the 536 tehsils of the 2017 census with households projected to ``as_of``.

    ``households = households_2017 * (1 + growth_rate) ** years``, ``years`` counted from
    :data:`CENSUS_2017_DATE` in years of 365.25 days and ``growth_rate`` the tehsil's average
    annual growth 1998-2017. Population grows at that rate and the average household size is
    held at its 2017 value, so households grow at the population's rate.

    Parameters
    ----------
    as_of
        Date to project to (a registry's date); earlier dates project backwards.

    Returns
    -------
    pandas.DataFrame
        Columns ``province`` (Rahat's name), ``province_2017``, ``district``, ``tehsil`` (PBS
        spellings), ``key`` (normalised name), ``population_2017``, ``household_size_2017``,
        ``growth_rate``, ``households_2017``, ``years``, ``households`` (float),
        ``district_code`` and ``unit_code`` (Rahat unit codes, ``None`` where no unit of that
        name is known), ``tehsil_pcode`` (COD-AB P-code of the Sindh tehsil polygon whose
        normalised name matches, else ``None``) and ``matched`` (a unit code was found).
        Unmatched tehsils stay in the table; :func:`match_report` lists them.
    """
    frame = _matched_tehsils().copy()
    years = (as_of - CENSUS_2017_DATE).days / 365.25
    frame["years"] = years
    frame["households"] = frame["households_2017"] * (1.0 + frame["growth_rate"]) ** years
    frame["matched"] = frame["unit_code"].notna()
    columns = [
        "province",
        "province_2017",
        "district",
        "tehsil",
        "key",
        "population_2017",
        "household_size_2017",
        "growth_rate",
        "households_2017",
        "years",
        "households",
        "district_code",
        "unit_code",
        "tehsil_pcode",
        "matched",
    ]
    return frame[columns]


@dataclass(frozen=True)
class MatchReport:
    """What did not match between the 2017 tehsils, Rahat's units and a registry.

    Attributes
    ----------
    no_unit
        2017 tehsils whose name matches no unit Rahat knows (``province``, ``district``,
        ``tehsil``, ``households_2017``).
    no_boundary
        2017 tehsils without a polygon (everything outside Sindh, and unmatched Sindh ones).
    boundaries_without_census
        Sindh COD-AB tehsils (``tehsil``, ``tehsil_pcode``) that no 2017 tehsil matched.
    registry_without_census
        Tehsil codes of the registry that no 2017 tehsil matched (empty without a registry).
    census_without_registry
        Matched 2017 tehsils whose unit has no household in the registry (empty without one).
    """

    no_unit: pd.DataFrame
    no_boundary: pd.DataFrame
    boundaries_without_census: pd.DataFrame
    registry_without_census: list[str] = field(default_factory=list)
    census_without_registry: pd.DataFrame = field(default_factory=pd.DataFrame)


def match_report(registry_codes: set[str] | None = None) -> MatchReport:
    """Report every 2017 tehsil that matches no unit or polygon, and the reverse.

    Parameters
    ----------
    registry_codes
        Tehsil codes present in a registry (for example
        ``gazetteer().codes_of(registry)[Level.TEHSIL]``), to report both directions against it.

    Returns
    -------
    MatchReport
        The unmatched rows of each side; nothing is dropped without appearing here.
    """
    frame = _matched_tehsils()
    columns = ["province", "district", "tehsil", "households_2017"]
    cod = boundaries.sindh_tehsils()
    unmatched_cod = cod[~cod["tehsil_pcode"].isin(set(frame["tehsil_pcode"].dropna()))]
    report = MatchReport(
        no_unit=frame.loc[frame["unit_code"].isna(), columns].reset_index(drop=True),
        no_boundary=frame.loc[frame["tehsil_pcode"].isna(), columns].reset_index(drop=True),
        boundaries_without_census=unmatched_cod[["tehsil", "tehsil_pcode"]].reset_index(drop=True),
    )
    if registry_codes is None:
        return report
    known = set(frame["unit_code"].dropna())
    present = {c for c in registry_codes if isinstance(c, str)}
    missing = frame["unit_code"].notna() & ~frame["unit_code"].isin(present)
    return MatchReport(
        no_unit=report.no_unit,
        no_boundary=report.no_boundary,
        boundaries_without_census=report.boundaries_without_census,
        registry_without_census=sorted(present - known),
        census_without_registry=frame.loc[missing, [*columns, "unit_code"]].reset_index(drop=True),
    )


# -- allocation inside units -------------------------------------------------------------------


def unit_polygons(level: Level | str) -> gpd.GeoDataFrame:
    """Return the polygons of ``level`` (district, or Sindh tehsil) with their unit ``code``.

    District codes are those of :func:`district_households`; tehsil codes are COD-AB P-codes
    (those of :func:`tehsil_households` ``unit_code`` for matched Sindh tehsils).
    """
    level = Level.get(str(level))
    if level == Level.DISTRICT:
        frame = boundaries.districts()
        codes = gazetteer().codes_of(frame[["province", "district", "district_pcode"]])
        return frame.assign(code=codes[Level.DISTRICT])[["code", "geometry"]]
    if level == Level.TEHSIL:
        tehsils = boundaries.sindh_tehsils()
        return tehsils.rename(columns={"tehsil_pcode": "code"})[["code", "geometry"]]
    raise InputError(f"no polygons to allocate at level '{level}': use district or tehsil")


@dataclass(frozen=True)
class Allocation:
    """Households of each unit spread over places inside it.

    Attributes
    ----------
    places
        One row per place (settlement, raster cell, or a unit's representative point): ``lon``,
        ``lat`` (EPSG:4326), ``unit``, ``weight`` (settlement population, people in the cell,
        or 1), ``households`` (float) and ``source`` (``settlement``, ``raster`` or
        ``centroid``). Per unit the households sum to the unit total within a relative
        :data:`SUM_TOLERANCE` (floating-point rounding only).
    empty_units
        Units with no place (or only places of weight 0) inside: their whole total is one
        ``centroid`` row at the unit's representative point (always inside it).
    unmatched_units
        Totals of units that match no polygon: they cannot be placed and are not in ``places``.
    places_outside
        Number of places (or cells with people) inside no unit, left out.
    """

    places: pd.DataFrame
    empty_units: list[str]
    unmatched_units: pd.Series
    places_outside: int


def allocate(
    unit_totals: Mapping[str, float] | pd.Series,
    places: pd.DataFrame | str | Path,
    *,
    units: gpd.GeoDataFrame,
    raster_unit: str | None = None,
) -> Allocation:
    """Distribute each unit's households over the places inside it.

    Parameters
    ----------
    unit_totals
        Households per unit code (for example ``district_households()`` indexed by ``code``).
    places
        Either points with ``lon``/``lat`` (EPSG:4326) and an optional ``population`` column
        (GeoNames :func:`rahat.geo.boundaries.settlements`): a unit's households are shared in
        proportion to the population of its places when any is positive, else equally; or the
        path of a population raster (GeoTIFF, counts of people per cell, any CRS): shared in
        proportion to the people in each cell, assigned to the unit containing its centre.
    units
        Unit polygons with a ``code`` column (:func:`unit_polygons`); other CRSs are
        reprojected to EPSG:4326.
    raster_unit
        What the raster's cells count; must be ``people``. Without it, the band's unit or a
        ``unit``/``units`` tag of the file is used; a raster declaring none is refused.

    Returns
    -------
    Allocation
        The places with their households and the report of what could not be placed.

    Raises
    ------
    InputError
        A raster without a declared unit, or of another unit than people (a density);
        negative counts; points without ``lon``/``lat``.
    CRSError
        A raster without a CRS.
    NoOverlapError
        A raster that covers none of the units.
    """
    totals = pd.Series(unit_totals, dtype="float64")
    if units.crs is not None and units.crs.to_epsg() != 4326:
        units = units.to_crs("EPSG:4326")
    if isinstance(places, (str, Path)):
        lon, lat, weight = _raster_cells(Path(places), units, raster_unit)
        source = "raster"
    else:
        lon, lat, weight = _points(places)
        source = "settlement"
    return _spread(totals, units, lon, lat, weight, source)


def _points(places: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = {"lon", "lat"} - set(places.columns)
    if missing:
        raise InputError(f"places need lon and lat columns; missing: {', '.join(sorted(missing))}")
    lon = places["lon"].to_numpy("float64")
    lat = places["lat"].to_numpy("float64")
    if "population" in places.columns:
        weight = pd.to_numeric(places["population"], errors="coerce").fillna(0).to_numpy("float64")
    else:
        weight = np.zeros(len(places))
    if (weight < 0).any():
        raise InputError("places have a negative population")
    return lon, lat, weight


def _declared_unit(src: Any, raster_unit: str | None) -> str | None:
    """The unit the caller declared, else the first band's unit or the file's unit tag."""
    if raster_unit is not None:
        return raster_unit
    tags = src.tags()
    for value in (src.units[0] if src.units else None, tags.get("unit"), tags.get("units")):
        if value:
            return str(value)
    return None


def _raster_cells(
    path: Path, units: gpd.GeoDataFrame, raster_unit: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (EPSG:4326) and people of the cells with people over the units' extent."""
    import rasterio
    from pyproj import CRS, Transformer
    from rasterio.errors import RasterioIOError
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    from rahat.geo.hazards.limits import HazardLimits
    from rahat.geo.hazards.raster import check_pixels

    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise UnreadableFileError(f"cannot read the population raster: {exc}", source=path) from exc
    with src:
        declared = _declared_unit(src, raster_unit)
        if declared is None:
            raise InputError(
                "the population raster does not say what its cells count; declare the unit "
                "(people: a count of people per cell; a density per km² must be converted first)",
                source=path,
            )
        if declared.strip().lower() not in ("people", "persons", "count"):
            raise InputError(
                f"the population raster's unit is '{declared}', but allocation needs counts of "
                "people per cell (unit 'people'); convert a density to counts per cell first",
                source=path,
            )
        if src.crs is None:
            raise CRSError(
                "the population raster has no CRS; Rahat cannot tell where its cells are. "
                "Write the CRS into the file (for example gdal_edit.py -a_srs EPSG:4326)",
                source=path,
            )
        crs = CRS.from_user_input(src.crs.to_wkt())
        left, bottom, right, top = transform_bounds(
            "EPSG:4326", src.crs, *units.total_bounds, densify_pts=21
        )
        full = rasterio.windows.Window(0, 0, src.width, src.height)
        try:
            window = from_bounds(left, bottom, right, top, src.transform).round_offsets()
            window = window.round_lengths().intersection(full)
        except rasterio.errors.WindowError:
            raise NoOverlapError(
                "the population raster does not cover any of the units", source=path
            ) from None
        check_pixels(  # bounded memory: the window is read whole
            int(window.width),
            int(window.height),
            HazardLimits(),
            path,
            what="the population raster's window over the units is",
        )
        band = src.read(1, window=window, masked=True).astype("float64").filled(0.0)
        transform = src.window_transform(window)
    band[~np.isfinite(band)] = 0.0
    if (band < 0).any():
        raise InputError("the population raster has negative counts", source=path)
    rows, cols = np.nonzero(band > 0)
    x = transform.c + (cols + 0.5) * transform.a + (rows + 0.5) * transform.b
    y = transform.f + (cols + 0.5) * transform.d + (rows + 0.5) * transform.e
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat), band[rows, cols]


def _spread(
    totals: pd.Series,
    units: gpd.GeoDataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    weight: np.ndarray,
    source: str,
) -> Allocation:
    import shapely

    codes = units["code"].astype(str).to_numpy()
    position = {c: i for i, c in enumerate(codes)}
    known = totals.index.isin(list(position))
    unmatched = totals[~known]
    totals = totals[known]
    unit_of = np.full(len(lon), -1, dtype="int64")
    point_idx, unit_idx = units.sindex.query(shapely.points(lon, lat), predicate="intersects")
    first = np.unique(point_idx, return_index=True)[1]  # a point on a shared edge: first unit
    unit_of[point_idx[first]] = unit_idx[first]
    wanted = np.zeros(len(codes), dtype=bool)
    wanted[[position[c] for c in totals.index]] = True
    inside = unit_of >= 0
    keep = inside & wanted[np.where(inside, unit_of, 0)]
    lon, lat, weight, unit_of = lon[keep], lat[keep], weight[keep], unit_of[keep]
    if source == "settlement":  # equal shares in units whose places have no population
        positive = np.bincount(unit_of, weights=weight, minlength=len(codes)) > 0
        weight = np.where(positive[unit_of], weight, 1.0)
    else:
        weight = weight.astype("float64")
    total_weight = np.bincount(unit_of, weights=weight, minlength=len(codes))
    unit_total = np.zeros(len(codes))
    unit_total[[position[c] for c in totals.index]] = totals.to_numpy()
    share = np.divide(weight, total_weight[unit_of], out=np.zeros_like(weight), where=weight > 0)
    households = unit_total[unit_of] * share
    places = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "unit": codes[unit_of],
            "weight": weight,
            "households": households,
            "source": source,
        }
    )
    empty = [c for c in totals.index if total_weight[position[c]] <= 0]
    if empty:
        points = units.geometry.iloc[[position[c] for c in empty]].representative_point()
        centroids = pd.DataFrame(
            {
                "lon": points.x.to_numpy(),
                "lat": points.y.to_numpy(),
                "unit": empty,
                "weight": 1.0,
                "households": totals[empty].to_numpy(),
                "source": "centroid",
            }
        )
        places = pd.concat([places[places["weight"] > 0], centroids], ignore_index=True)
    else:
        places = places[places["weight"] > 0].reset_index(drop=True)
    return Allocation(
        places=places,
        empty_units=empty,
        unmatched_units=unmatched,
        places_outside=int((~inside).sum()),
    )
