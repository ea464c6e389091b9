"""Build the real 2022 data of the trigger backtest: daily rain and the flooded share per tehsil.

Reads the shared collection (``SHARED``: the folder holding ``hazard/``, see its
``SOURCES.md`` sections 2a and 2c) and the Sindh tehsils bundled in ``data/admin/cod_ab_sindh``
(OCHA COD-AB, with P-codes), and writes into ``OUT`` (``data/triggers`` in the repository):

- ``sindh_tehsil_rain_2022.csv`` (``pcode,date,rain_mm``): daily CHIRPS v2.0 rainfall,
  2022-06-01 .. 2022-09-30, per tehsil: the unweighted mean of the 0.05° cells whose centres
  fall inside the tehsil or, for a tehsil holding no centre, of every cell whose interior it
  overlaps ("touched"); rounded to 0.01 mm. The CHIRPS frame covers 66.09-70.66° E,
  26.20-32.20° N only: tehsils wholly outside it get no rows (listed in the printed summary).
  Cell ``(i, j)`` of the frame (rows north to south, columns west to east) is centred on
  ``(west + (j + ½)·0.05, north − (i + ½)·0.05)``.
- ``sindh_tehsil_flooded_2022.csv`` (``pcode,flood_share``): the Sentinel-1 flooded share of
  each tehsil in August 2022 ("Flood Area (% of tehsil)" / 100, © 2023 Laurent Chan, MIT,
  https://github.com/Yagrr/2022_pakistan_flood_RS_GEE), matched to the COD-AB P-codes by
  tehsil name within district after :func:`rahat.geo.units.slug` (lower case, every run of
  other characters than a-z and 0-9 one hyphen). Names left unmatched on either side are
  listed, never dropped silently.
- optionally (``--netcdf PATH``) the CHIRPS frame itself as CF-1.8 NetCDF: ``time``, ``lat``
  (north to south, as stored), ``lon``, ``rain`` float32 mm/day (zlib) with
  ``grid_mapping = "crs"`` (EPSG:4326).

Run ``python -m rahat.benchmarks.trigger_data SHARED OUT [--netcdf PATH]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rahat.geo.units import slug

if TYPE_CHECKING:
    import geopandas as gpd

#: CHIRPS frame in the shared collection (``dates``, ``rain`` (days, rows, cols), ``bounds``).
CHIRPS_FILE = "hazard/rain2022_chirps_sindh/chirps_frame.npz"
#: Sentinel-1 flood statistics per Sindh tehsil in the shared collection.
FLOOD_FILE = "hazard/flood2022_sindh_s1_gee/Sindh_Tehsil_Area_Assessment.csv"
#: Output names inside ``OUT``.
RAIN_CSV = "sindh_tehsil_rain_2022.csv"
FLOODED_CSV = "sindh_tehsil_flooded_2022.csv"
#: CHIRPS cell size in degrees.
CELL = 0.05


@dataclass
class TriggerData:
    """What :func:`build_trigger_data` wrote and what it could not place.

    Attributes
    ----------
    rain
        ``pcode``, ``date``, ``rain_mm`` rows as written.
    flooded
        ``pcode``, ``flood_share`` rows as written.
    touched
        P-codes whose mean uses every touched cell (no cell centre inside).
    uncovered
        ``"PCODE name (district)"`` of tehsils outside the rainfall frame (no rows).
    partial
        ``"PCODE name (district): NN.N% inside"`` of tehsils only partly inside the frame (their
        mean covers the part inside).
    unmatched_flood
        ``"district / tehsil"`` of flood rows whose name matched no tehsil.
    tehsils_without_flood
        ``"PCODE name (district)"`` of tehsils no flood row matched.
    """

    rain: pd.DataFrame
    flooded: pd.DataFrame
    touched: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    unmatched_flood: list[str] = field(default_factory=list)
    tehsils_without_flood: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return the printed summary: counts and every tehsil or name left out."""
        lines = [
            f"rain: {self.rain['pcode'].nunique()} tehsils x {self.rain['date'].nunique()} days"
            f" ({len(self.touched)} by touched cells: {', '.join(self.touched) or '-'})",
            f"tehsils outside the CHIRPS frame (no rain rows): {len(self.uncovered)}",
            *(f"  {name}" for name in self.uncovered),
            f"tehsils partly outside the frame (mean of the part inside): {len(self.partial)}",
            *(f"  {name}" for name in self.partial),
            f"flooded share: {len(self.flooded)} tehsils matched",
            f"flood rows with no matching tehsil: {len(self.unmatched_flood)}",
            *(f"  {name}" for name in self.unmatched_flood),
            f"tehsils with no flood row: {len(self.tehsils_without_flood)}",
            *(f"  {name}" for name in self.tehsils_without_flood),
        ]
        return "\n".join(lines)


def _label(row: pd.Series) -> str:
    return f"{row['tehsil_pcode']} {row['tehsil']} ({row['cod_district']})"


def cell_centres(shape: tuple[int, int], bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the lon and lat of every cell centre of a north-up frame, shape ``(rows, cols)``.

    Parameters
    ----------
    shape
        ``(rows, cols)``.
    bounds
        ``[west, south, east, north]``; only west and north are used with :data:`CELL`
        (the frame's outer edges are snapped to the CHIRPS grid).
    """
    rows, cols = shape
    west, north = float(bounds[0]), float(bounds[3])
    lon = west + (np.arange(cols) + 0.5) * CELL
    lat = north - (np.arange(rows) + 0.5) * CELL
    return np.meshgrid(lon, lat)


def frame_share(
    tehsils: gpd.GeoDataFrame, shape: tuple[int, int], bounds: np.ndarray
) -> np.ndarray:
    """Return the share of each tehsil's area (in degrees²) inside the frame's cells."""
    import shapely

    rows, cols = shape
    west, north = float(bounds[0]), float(bounds[3])
    extent = shapely.box(west, north - rows * CELL, west + cols * CELL, north)
    geometries = tehsils.geometry.to_numpy()
    return np.asarray(
        shapely.area(shapely.intersection(geometries, extent)) / shapely.area(geometries)
    )


def tehsil_cells(
    tehsils: gpd.GeoDataFrame, shape: tuple[int, int], bounds: np.ndarray
) -> tuple[list[np.ndarray], list[bool]]:
    """Return the flat indices of the cells averaged for each tehsil, and whether touched.

    Parameters
    ----------
    tehsils
        Polygons in EPSG:4326.
    shape, bounds
        The frame (see :func:`cell_centres`).

    Returns
    -------
    tuple
        Per tehsil: the flat cell indices (empty when outside the frame), and ``True`` where
        no centre lies inside and the cells whose interior the tehsil overlaps were used.
    """
    import shapely

    lon, lat = cell_centres(shape, bounds)
    x, y = lon.ravel(), lat.ravel()
    boxes = shapely.box(x - CELL / 2, y - CELL / 2, x + CELL / 2, y + CELL / 2)
    cells: list[np.ndarray] = []
    touched: list[bool] = []
    for geometry in tehsils.geometry.to_numpy():
        shapely.prepare(geometry)
        inside = np.flatnonzero(shapely.contains_xy(geometry, x, y))
        if inside.size:
            cells.append(inside)
            touched.append(False)
            continue
        overlap = shapely.intersects(geometry, boxes) & ~shapely.touches(geometry, boxes)
        cells.append(np.flatnonzero(overlap))
        touched.append(bool(overlap.any()))
    return cells, touched


def tehsil_rain(
    rain: np.ndarray, dates: np.ndarray, bounds: np.ndarray, tehsils: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Average a daily rainfall frame over each tehsil.

    Parameters
    ----------
    rain
        ``(days, rows, cols)`` mm per day, rows north to south.
    dates
        ISO dates, one per day.
    bounds
        ``[west, south, east, north]`` of the frame.
    tehsils
        ``tehsil``, ``tehsil_pcode``, ``cod_district`` and polygons (EPSG:4326).

    Returns
    -------
    tuple
        Rows ``pcode, date, rain_mm`` (by P-code then date, rounded to 0.01 mm), the
        P-codes averaged over touched cells, and the labels of tehsils outside the frame.
    """
    days = rain.shape[0]
    flat = rain.reshape(days, -1).astype(np.float64)
    cells, touched = tehsil_cells(tehsils, rain.shape[1:], bounds)
    frames, by_touch, outside = [], [], []
    for (_, row), index, touch in zip(tehsils.iterrows(), cells, touched, strict=True):
        if not index.size:
            outside.append(_label(row))
            continue
        if touch:
            by_touch.append(str(row["tehsil_pcode"]))
        frames.append(
            pd.DataFrame(
                {
                    "pcode": str(row["tehsil_pcode"]),
                    "date": [str(d) for d in dates],
                    "rain_mm": flat[:, index].mean(axis=1).round(2),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True).sort_values(["pcode", "date"], ignore_index=True)
    return table, sorted(by_touch), sorted(outside)


def _name_keys(districts: pd.Series, tehsils: pd.Series) -> list[str]:
    """Return ``"district/tehsil"`` keys of normalised names (:func:`rahat.geo.units.slug`)."""
    return [f"{slug(d)}/{slug(t)}" for d, t in zip(districts, tehsils, strict=True)]


def flooded_share(
    assessment: pd.DataFrame, tehsils: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Match the Sentinel-1 tehsil statistics to P-codes by name within district.

    Parameters
    ----------
    assessment
        ``Tehsil Name``, ``District Name`` and ``Flood Area (% of tehsil)``.
    tehsils
        ``tehsil``, ``tehsil_pcode``, ``cod_district``.

    Returns
    -------
    tuple
        Rows ``pcode, flood_share`` (by P-code; share = percent / 100, 4 decimals), the
        ``"district / tehsil"`` names of unmatched assessment rows, and the labels of tehsils
        with no assessment row.

    Raises
    ------
    ValueError
        If two tehsils (or two assessment rows) share a normalised district and tehsil name.
    """
    codes = tehsils.assign(key=_name_keys(tehsils["cod_district"], tehsils["tehsil"]))
    rows = assessment.assign(key=_name_keys(assessment["District Name"], assessment["Tehsil Name"]))
    for name, frame in (("tehsil boundaries", codes), ("flood assessment", rows)):
        repeated = frame.loc[frame["key"].duplicated(), "key"].tolist()
        if repeated:
            raise ValueError(f"{name}: normalised names repeat: {repeated}")
    joined = rows.merge(codes[["key", "tehsil_pcode"]], on="key", how="left")
    matched = joined[joined["tehsil_pcode"].notna()]
    table = pd.DataFrame(
        {
            "pcode": matched["tehsil_pcode"].astype(str),
            "flood_share": (matched["Flood Area (% of tehsil)"].astype(float) / 100.0).round(4),
        }
    ).sort_values("pcode", ignore_index=True)
    unmatched = joined[joined["tehsil_pcode"].isna()]
    unmatched_names = sorted(
        f"{d} / {t}"
        for d, t in zip(unmatched["District Name"], unmatched["Tehsil Name"], strict=True)
    )
    missing = codes[~codes["key"].isin(set(rows["key"]))]
    return table, unmatched_names, sorted(_label(row) for _, row in missing.iterrows())


def write_netcdf(rain: np.ndarray, dates: np.ndarray, bounds: np.ndarray, path: Path) -> None:
    """Write the rainfall frame as CF-1.8 NetCDF (``rain`` float32 mm/day, zlib, EPSG:4326).

    Parameters
    ----------
    rain
        ``(days, rows, cols)``, rows north to south.
    dates
        ISO dates.
    bounds
        ``[west, south, east, north]``.
    path
        File to write (its folder is created).
    """
    import xarray as xr
    from pyproj import CRS

    lon, lat = cell_centres(rain.shape[1:], bounds)
    dataset = xr.Dataset(
        {
            "rain": (
                ("time", "lat", "lon"),
                rain.astype(np.float32),
                {
                    "long_name": "daily precipitation (CHIRPS v2.0)",
                    "units": "mm/day",
                    "grid_mapping": "crs",
                },
            ),
            "crs": ((), np.int32(0), CRS.from_epsg(4326).to_cf()),
        },
        coords={
            "time": ("time", pd.to_datetime(np.asarray(dates, dtype=str)), {"axis": "T"}),
            "lat": (
                "lat",
                lat[:, 0],
                {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
            ),
            "lon": (
                "lon",
                lon[0],
                {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
            ),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "CHIRPS v2.0 daily rainfall, Sindh frame, 2022-06-01..2022-09-30",
            "source": "CHIRPS v2.0 (Climate Hazards Center, UC Santa Barbara), public domain; "
            "Funk et al. (2015), Scientific Data 2:150066",
            "history": "written by rahat.benchmarks.trigger_data from chirps_frame.npz",
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_netcdf(
        path,
        encoding={
            "rain": {
                "zlib": True,
                "complevel": 4,
                "shuffle": True,
                "dtype": "float32",
                "_FillValue": None,
            },
            "time": {"units": "days since 2022-01-01", "calendar": "standard", "dtype": "int32"},
        },
    )


def build_trigger_data(
    shared: Path,
    out: Path,
    *,
    tehsils: gpd.GeoDataFrame | None = None,
    netcdf: Path | None = None,
) -> TriggerData:
    """Write the rain and flooded-share CSVs (and optionally the NetCDF) from the shared data.

    Parameters
    ----------
    shared
        Folder holding :data:`CHIRPS_FILE` and :data:`FLOOD_FILE`.
    out
        Output folder (created) for :data:`RAIN_CSV` and :data:`FLOODED_CSV`.
    tehsils
        Tehsil polygons with ``tehsil``, ``tehsil_pcode``, ``cod_district`` (EPSG:4326);
        default: the bundled COD-AB tehsils (:func:`rahat.geo.boundaries.sindh_tehsils`).
    netcdf
        Where to write the rainfall frame as NetCDF; ``None``: not written.

    Returns
    -------
    TriggerData
        The written tables and what was left out.
    """
    if tehsils is None:
        from rahat.geo.boundaries import sindh_tehsils

        tehsils = sindh_tehsils()
    tehsils = tehsils.to_crs("EPSG:4326").sort_values("tehsil_pcode", ignore_index=True)
    with np.load(shared / CHIRPS_FILE) as frame:
        dates, rain, bounds = frame["dates"], frame["rain"], frame["bounds"]
    rain_table, touched, uncovered = tehsil_rain(rain, dates, bounds, tehsils)
    share = frame_share(tehsils, rain.shape[1:], bounds)
    partial = [
        f"{_label(row)}: {100 * inside:.1f}% inside"
        for (_, row), inside in zip(tehsils.iterrows(), share, strict=True)
        if 0.0 < inside < 0.995
    ]
    assessment = pd.read_csv(shared / FLOOD_FILE)
    flooded, unmatched, without = flooded_share(assessment, tehsils)
    out.mkdir(parents=True, exist_ok=True)
    rain_table.to_csv(out / RAIN_CSV, index=False, float_format="%.2f", lineterminator="\n")
    flooded.to_csv(out / FLOODED_CSV, index=False, float_format="%.4f", lineterminator="\n")
    if netcdf is not None:
        write_netcdf(rain, dates, bounds, netcdf)
    return TriggerData(rain_table, flooded, touched, uncovered, partial, unmatched, without)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m rahat.benchmarks.trigger_data SHARED OUT``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("shared", type=Path, help="shared data folder holding hazard/")
    parser.add_argument("out", type=Path, help="output folder (data/triggers)")
    parser.add_argument("--netcdf", type=Path, help="also write the rainfall frame here")
    args = parser.parse_args(argv)
    result = build_trigger_data(args.shared, args.out, netcdf=args.netcdf)
    print(result.summary())
    if args.netcdf is not None:
        print(f"NetCDF: {args.netcdf} ({args.netcdf.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
