"""Inputs of the outreach plan: demand points, candidate sites and the footprint.

:func:`demand_points` spreads the gap table's expected unregistered bottom-40 % households of
each district over places inside it (:func:`rahat.geo.denominators.allocate`: settlements, the
registry's households gridded by :func:`registry_places`, or the cells of a population
raster); :func:`candidate_sites` keeps the usable rows of a sites table and says why it left
the others out. Which points a footprint covers is decided by
:func:`rahat.engine.gap.footprint.in_footprint` (hazard class >= 1, as the overlay decides it).
Nothing is dropped without being reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rahat.geo.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd


#: Gap-table columns :func:`demand_points` needs.
GAP_NEEDED: tuple[str, ...] = ("level", "unit", "unregistered_b40_est")
#: Estimates this little below 0 are rounding (the model's zero), read as 0.
_ROUNDING = 1e-6
#: Grid cell (degrees, about 5 km) :func:`registry_places` gathers registry households in.
REGISTRY_CELL_DEG = 0.05


def registry_places(
    lon: np.ndarray, lat: np.ndarray, cell_deg: float = REGISTRY_CELL_DEG
) -> pd.DataFrame:
    """Where the registry's households live, gathered on a grid: places to spread demand over.

    Settlements are few (about 500 for the country) and put a district's demand on its towns;
    the registered households show where people live down to the village, and a grid of them
    keeps the plan's demand points few. On the synthetic population (1 M households, 25 sites
    toward the demo flood) the plan then reaches 27 % of the truly unregistered poor in the
    footprint instead of 16 %; sites chosen from the truth reach 35 %. The unregistered live
    farther out than the registered, so a population raster, where one exists, is better still.

    Parameters
    ----------
    lon, lat
        The registry households' coordinates (WGS 84); missing ones are left out.
    cell_deg
        Grid cell size in degrees.

    Returns
    -------
    pandas.DataFrame
        ``lon``, ``lat`` (the mean of the cell's households) and ``population`` (households)
        per occupied cell, in grid order.
    """
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    known = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[known], lat[known]
    cell = pd.DataFrame(
        {"x": np.floor(lon / cell_deg), "y": np.floor(lat / cell_deg), "lon": lon, "lat": lat}
    )
    grid = cell.groupby(["x", "y"], sort=True)
    return pd.DataFrame(
        {
            "lon": grid["lon"].mean().to_numpy(),
            "lat": grid["lat"].mean().to_numpy(),
            "population": grid.size().to_numpy(np.float64),
        }
    )


@dataclass(frozen=True)
class Demand:
    """Expected unregistered bottom-40 % households at points.

    Attributes
    ----------
    points
        ``lon``, ``lat``, ``unit`` (district), ``households`` (float) and ``source``
        (``settlement``, ``raster`` or ``centroid``).
    units
        District rows of the gap table used.
    unmatched
        District names (with their households) that match no district polygon: not placed.
    empty_units
        Districts with no place inside: their demand sits at one representative point.
    places_outside
        Places (or raster cells with people) inside no district.
    """

    points: pd.DataFrame
    units: int
    unmatched: pd.Series
    empty_units: list[str] = field(default_factory=list)
    places_outside: int = 0


def district_shapes() -> gpd.GeoDataFrame:
    """District polygons with their name as ``code`` (the gap table's district ``unit``)."""
    from rahat.geo import boundaries

    shapes = boundaries.districts()
    return shapes.assign(code=shapes["district"].astype(str))[
        ["code", "district_pcode", "geometry"]
    ]


def unit_names(table: pd.DataFrame, shapes: gpd.GeoDataFrame) -> pd.Series:
    """District name of each row: by P-code, else name, else normalised name.

    Rows matching nothing keep their own name (:func:`allocate` reports them).
    """
    from rahat.geo.denominators import normalise_name

    names = table["unit"].astype(str)
    by_pcode = dict(zip(shapes["district_pcode"].astype(str), shapes["code"], strict=True))
    by_key = {normalise_name(c): c for c in shapes["code"]}
    known = set(shapes["code"])
    pcodes = table["pcode"].fillna("").astype(str) if "pcode" in table else names.map(lambda _: "")
    return pd.Series(
        [
            by_pcode.get(p) or (n if n in known else by_key.get(normalise_name(n), n))
            for n, p in zip(names, pcodes, strict=True)
        ],
        index=table.index,
    )


def demand_points(
    table: pd.DataFrame,
    places: pd.DataFrame | str | Path | None = None,
    *,
    raster_unit: str | None = None,
) -> Demand:
    """Spread each district's expected unregistered bottom-40 % households over places in it.

    Parameters
    ----------
    table
        A gap table (:data:`rahat.engine.gap.GAP_COLUMNS`, as ``gap_by_unit.csv`` holds it): at
        least :data:`GAP_NEEDED`; its ``district`` rows are used.
    places
        Settlements (default :func:`rahat.geo.boundaries.settlements`), other points with
        ``lon``/``lat``/``population``, or a population raster's path.
    raster_unit
        What the raster's cells count (``people``), see :func:`rahat.geo.denominators.allocate`.

    Returns
    -------
    Demand
        The demand points and what could not be placed (never dropped silently).

    Raises
    ------
    InputError
        Missing columns, no district rows, or an estimate that is missing or negative.
    """
    from rahat.geo import boundaries
    from rahat.geo.denominators import allocate

    missing = [c for c in GAP_NEEDED if c not in table.columns]
    if missing:
        raise InputError(
            f"the gap table lacks column(s) {', '.join(missing)}; "
            "use gap_by_unit.csv written by `rahat gap estimate`"
        )
    rows = table[table["level"].astype(str) == "district"]
    if rows.empty:
        raise InputError("the gap table has no district rows to plan from")
    estimate = pd.to_numeric(rows["unregistered_b40_est"], errors="coerce")
    bad = rows["unit"][~(estimate >= -_ROUNDING)]
    if len(bad):
        raise InputError(
            f"{len(bad)} district(s) have no valid unregistered_b40_est (missing or negative): "
            + ", ".join(map(str, bad.head(5)))
        )
    shapes = district_shapes()
    totals = estimate.clip(lower=0.0).groupby(unit_names(rows, shapes).to_numpy()).sum()
    allocation = allocate(
        totals,
        boundaries.settlements() if places is None else places,
        units=shapes[["code", "geometry"]],
        raster_unit=raster_unit,
    )
    return Demand(
        points=allocation.places.drop(columns="weight"),
        units=len(rows),
        unmatched=allocation.unmatched_units,
        empty_units=list(allocation.empty_units),
        places_outside=allocation.places_outside,
    )


def site_districts(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """District name of each point (``""`` outside every district; the first on a shared edge)."""
    import shapely

    shapes = district_shapes()
    point, unit = shapes.sindex.query(shapely.points(lon, lat), predicate="intersects")
    out = np.full(len(lon), "", dtype=object)
    first = np.unique(point, return_index=True)[1]
    out[point[first]] = shapes["code"].to_numpy()[unit[first]]
    return out


def default_candidates() -> pd.DataFrame:
    """The default candidate sites: every settlement and every registration centre's place.

    The GeoNames settlements (:func:`rahat.geo.boundaries.settlements`), and the places of the
    approximate tehsil centres (:func:`rahat.geo.registration_centres.registration_centres`),
    which add a district's representative point where it has no settlement (where
    :func:`demand_points` puts that district's whole demand). A place listed twice (a centre in
    a settlement) is kept once, under its first name.

    Returns
    -------
    pandas.DataFrame
        ``name``, ``lon``, ``lat``.
    """
    from rahat.geo import boundaries
    from rahat.geo.registration_centres import registration_centres

    columns = ["name", "lon", "lat"]
    both = pd.concat(
        [boundaries.settlements()[columns], registration_centres()[columns]], ignore_index=True
    )
    return both[~both[["lon", "lat"]].round(6).duplicated()].reset_index(drop=True)


@dataclass(frozen=True)
class Candidates:
    """Usable candidate sites (``name``, ``lon``, ``lat``) and the rows left out, with why."""

    sites: pd.DataFrame
    rejected: pd.DataFrame


def candidate_sites(frame: pd.DataFrame) -> Candidates:
    """Keep the rows of a sites table that name a place with valid coordinates.

    Parameters
    ----------
    frame
        Columns ``name``, ``lon``, ``lat`` (degrees, EPSG:4326); others are ignored.

    Returns
    -------
    Candidates
        The usable rows, and the others with their 1-based ``row`` and a ``reason``.

    Raises
    ------
    InputError
        A missing column, or no usable row.
    """
    missing = [c for c in ("name", "lon", "lat") if c not in frame.columns]
    if missing:
        raise InputError(f"the sites table needs columns name, lon, lat; missing: {missing}")
    name = frame["name"].fillna("").astype(str).str.strip()
    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[~lat.between(-90, 90)] = "lat not a number in [-90, 90]"
    reason[~lon.between(-180, 180)] = "lon not a number in [-180, 180]"
    reason[name == ""] = "no name"
    bad = reason != ""
    sites = pd.DataFrame({"name": name, "lon": lon, "lat": lat})[~bad].reset_index(drop=True)
    rejected = pd.DataFrame({"row": np.flatnonzero(bad.to_numpy()) + 1, "reason": reason[bad]})
    if sites.empty:
        raise InputError(
            f"no usable candidate site: all {len(frame)} row(s) lack a name or valid lon/lat"
        )
    return Candidates(sites=sites, rejected=rejected.reset_index(drop=True))
