"""The daily series a trigger's conditions read: values per area, ensemble member and day.

Three sources give a :class:`Series`:

* an **area series** CSV (:func:`read_area_series`): ``pcode, date, <value>[, member]``, one row
  per area, day and member. Rows that cannot be read (no P-code, a date that is not one, a value
  that is not a finite number) are counted and reported, never dropped in silence; a repeated
  area, day and member is an error.
* a **forecast grid** (:func:`read_grid`): a NetCDF with a time axis, optionally an ensemble
  axis (``member``, ``number``, ``realization`` or ``ensemble``), and a CRS; each area's value
  is the mean of the cells whose centres fall in it (:func:`area_means`).
* **CAP alerts** (:mod:`rahat.engine.triggers.alerts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.geo.errors import TriggerError

#: Names of an ensemble-member axis.
MEMBER_DIMS = ("member", "number", "realization", "ensemble", "ens")

#: Largest area series CSV read, in bytes.
MAX_SERIES_BYTES = 200_000_000

#: Most values (areas x members x days) a series may hold.
MAX_VALUES = 20_000_000

#: Most values (members x days x cells) a forecast grid may hold, checked before reading.
MAX_GRID_VALUES = 250_000_000


@dataclass(frozen=True)
class Series:
    """Values per area, member and day (NaN: no value), days consecutive and ascending.

    Attributes
    ----------
    areas
        Area codes, in the order of ``values``' first axis.
    days
        ``datetime64[D]``, one per day.
    values
        float64 ``[area, member, day]``.
    source
        Where the values come from (for messages).
    warnings
        What the reader reported (rejected rows, areas without cells).
    """

    areas: tuple[str, ...]
    days: np.ndarray
    values: np.ndarray
    source: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def members(self) -> int:
        """Number of ensemble members (1 for a single series)."""
        return int(self.values.shape[1])

    def for_areas(self, codes: Sequence[str]) -> Series:
        """The series of ``codes`` in that order (an area it lacks is all NaN)."""
        index = {code: i for i, code in enumerate(self.areas)}
        out = np.full((len(codes), self.members, len(self.days)), np.nan)
        for i, code in enumerate(codes):
            if code in index:
                out[i] = self.values[index[code]]
        return Series(tuple(codes), self.days, out, self.source, self.warnings)


def _day_range(days: np.ndarray) -> np.ndarray:
    return np.arange(days.min(), days.max() + np.timedelta64(1, "D"), dtype="datetime64[D]")


def read_area_series(path: Path, value: str = "value") -> Series:
    """Read an area series CSV: ``pcode``, ``date``, ``value`` (named) and optional ``member``.

    Raises
    ------
    rahat.geo.errors.TriggerError
        For a missing or oversized file, missing columns, no readable row, or an area, day and
        member given twice.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TriggerError(f"cannot read the series: {exc.strerror or exc}", source=path) from None
    if size > MAX_SERIES_BYTES:
        raise TriggerError(
            f"the series is {size:,} bytes, more than {MAX_SERIES_BYTES:,}", source=path
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TriggerError(f"not a readable CSV file ({exc})", source=path) from None
    missing = [c for c in ("pcode", "date", value) if c not in frame.columns]
    if missing:
        raise TriggerError(
            f"missing column(s) {', '.join(missing)} (the file has: "
            f"{', '.join(map(str, frame.columns))})",
            source=path,
        )
    # the day as written (a time or a UTC offset after it would move it to another day)
    days = pd.to_datetime(frame["date"].str.strip().str[:10], errors="coerce", format="%Y-%m-%d")
    numbers = pd.to_numeric(frame[value], errors="coerce")
    members = (
        pd.to_numeric(frame["member"], errors="coerce")
        if "member" in frame.columns
        else pd.Series(0.0, index=frame.index)
    )
    whole = np.isfinite(members) & (members == np.floor(members)) & (members >= 0)
    codes = frame["pcode"].str.strip()
    good = days.notna() & np.isfinite(numbers) & whole & (codes != "")
    rejected = int((~good).sum())
    if not good.any():
        raise TriggerError(f"no readable row among {len(frame):,}", source=path)
    kept = pd.DataFrame(
        {
            "pcode": codes[good],
            "day": days[good].to_numpy().astype("datetime64[D]"),
            "member": members[good].astype(np.int64),
            "value": numbers[good].astype(np.float64),
        }
    )
    repeated = kept.duplicated(["pcode", "day", "member"])
    if repeated.any():
        first = kept[repeated].iloc[0]
        raise TriggerError(
            f"{int(repeated.sum()):,} rows repeat an area, day and member (first: "
            f"{first['pcode']} {first['day']} member {first['member']})",
            source=path,
        )
    areas = tuple(sorted(kept["pcode"].unique()))
    member_ids = np.sort(kept["member"].unique())
    kept_days = kept["day"].to_numpy().astype("datetime64[D]")
    all_days = _day_range(kept_days)
    if len(areas) * len(member_ids) * len(all_days) > MAX_VALUES:
        raise TriggerError("the series holds too many values to evaluate", source=path)
    values = np.full((len(areas), len(member_ids), len(all_days)), np.nan)
    a = np.searchsorted(np.array(areas), kept["pcode"].to_numpy())
    m = np.searchsorted(member_ids, kept["member"].to_numpy())
    d = (kept_days - all_days[0]) // np.timedelta64(1, "D")
    values[a, m, d] = kept["value"].to_numpy()
    notes = (
        f"{rejected:,} of {len(frame):,} rows rejected (no P-code, no YYYY-MM-DD date, no "
        "number, or a member that is not a whole number >= 0)",
    )
    return Series(areas, all_days, values, str(path), notes if rejected else ())


def area_means(values: np.ndarray, labels: np.ndarray, n_areas: int) -> np.ndarray:
    """Mean of each area's cells per leading index, ignoring NaN.

    Parameters
    ----------
    values
        ``[k, cells]`` (float); NaN is no data.
    labels
        Area of each cell (``-1``: none).
    n_areas
        Number of areas.

    Returns
    -------
    numpy.ndarray
        float64 ``[n_areas, k]``; NaN for an area with no valid cell.
    """
    inside = labels >= 0
    label = labels[inside]
    out = np.full((n_areas, values.shape[0]), np.nan)
    for k in range(values.shape[0]):
        cells = values[k, inside].astype(np.float64)
        valid = ~np.isnan(cells)
        total = np.bincount(label[valid], weights=cells[valid], minlength=n_areas)
        count = np.bincount(label[valid], minlength=n_areas)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _dims(da: Any, path: Path) -> tuple[str, str | None, str, str]:
    time = [d for d in da.dims if np.issubdtype(da[d].dtype, np.datetime64)] if da.dims else []
    if not time:
        raise TriggerError(
            "the forecast has no time axis (a dimension with dates); a trigger needs one",
            source=path,
        )
    member = next((d for d in da.dims if str(d).lower() in MEMBER_DIMS), None)
    rest = [d for d in da.dims if d not in (time[0], member)]
    if len(rest) != 2:
        raise TriggerError(
            f"the forecast variable has dimensions {tuple(map(str, da.dims))}; expected time, "
            "an optional ensemble member, and two spatial dimensions",
            source=path,
        )
    return str(time[0]), None if member is None else str(member), str(rest[0]), str(rest[1])


def read_grid(
    path: Path,
    variable: str | None,
    areas: Sequence[str],
    geometries: Sequence[Any],
) -> Series:
    """Read a forecast grid and average it over each area.

    Parameters
    ----------
    path
        NetCDF file with a time axis, an optional ensemble axis and a CRS (CF ``grid_mapping``
        or ``spatial_ref``).
    variable
        The variable (default: the file's only data variable with a time axis).
    areas, geometries
        Area codes and their polygons (EPSG:4326).

    Raises
    ------
    rahat.geo.errors.TriggerError
        Without a time axis or a CRS, with daily steps missing or repeated, or when no area has
        a cell.
    """
    import xarray as xr
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    from rahat.geo.hazards.netcdf import regular_spacing, stated_crs

    try:
        ds = xr.open_dataset(path, decode_coords="all")
    except (OSError, ValueError) as exc:
        raise TriggerError(f"not a readable NetCDF file ({exc})", source=path) from None
    with ds:
        names = [variable] if variable else [str(v) for v in ds.data_vars if ds[v].ndim >= 3]
        if not names or names[0] not in ds.data_vars:
            raise TriggerError(
                f"no variable {variable!r} (the file has: {', '.join(map(str, ds.data_vars))})",
                source=path,
            )
        if len(names) > 1:
            raise TriggerError(
                f"the file has several variables ({', '.join(names)}); name one", source=path
            )
        da = ds[names[0]]
        tdim, mdim, ydim, xdim = _dims(da, path)
        crs = stated_crs(ds, names[0])
        if crs is None:
            raise TriggerError(
                "the forecast states no CRS (CF grid_mapping or spatial_ref); Rahat does not "
                "guess one",
                source=path,
            )
        if crs.to_epsg(min_confidence=20) != 4326:
            raise TriggerError(
                f"the forecast's CRS is {crs.name}; forecasts are read in EPSG:4326 "
                "(latitude/longitude, WGS 84)",
                source=path,
            )
        if mdim is None:
            da = da.expand_dims("member")
            mdim = "member"
        if da.size > MAX_GRID_VALUES:
            raise TriggerError(
                f"the forecast holds {da.size:,} values, more than {MAX_GRID_VALUES:,}; cut it "
                "to the areas and days the trigger reads",
                source=path,
            )
        da = da.transpose(mdim, tdim, ydim, xdim)
        days = np.asarray(da[tdim].values).astype("datetime64[D]")
        if len(days) == 0 or np.any(np.diff(days) != np.timedelta64(1, "D")):
            raise TriggerError(
                "the forecast's time steps are not consecutive days; give daily steps",
                source=path,
            )
        x = np.asarray(da[xdim].values, dtype=np.float64)
        y = np.asarray(da[ydim].values, dtype=np.float64)
        cube = np.asarray(da.values)
    dx = regular_spacing(x, xdim, path)
    dy = -regular_spacing(y, ydim, path)  # negative for rows south to north: fine
    transform = from_origin(x[0] - dx / 2, y[0] + dy / 2, dx, dy)
    shapes = [(geom, i + 1) for i, geom in enumerate(geometries) if geom is not None]
    labels = (
        rasterize(shapes, out_shape=(len(y), len(x)), transform=transform, fill=0, dtype="int32")
        .ravel()
        .astype(np.int64)
        - 1
    )
    found = np.bincount(labels[labels >= 0], minlength=len(areas))
    empty = [code for code, n in zip(areas, found, strict=True) if n == 0]
    if len(empty) == len(areas):
        raise TriggerError("no area has a cell of the forecast grid", source=path)
    members, steps = cube.shape[0], cube.shape[1]
    flat = cube.reshape(members * steps, -1)
    means = area_means(flat, labels, len(areas)).reshape(len(areas), members, steps)
    notes = (
        (f"{len(empty)} areas have no cell centre of the grid: {', '.join(empty[:10])}",)
        if empty
        else ()
    )
    return Series(tuple(areas), days, means, str(path), notes)
