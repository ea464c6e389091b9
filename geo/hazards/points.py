"""Grid a CSV of points (``lon,lat,value``, e.g. a ShakeMap PGA field) onto a raster."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rahat.geo.errors import (
    AttributeFieldError,
    EmptyDataError,
    SchemaError,
    TooLargeError,
    UnreadableFileError,
)
from rahat.geo.hazards.crs import resolve_crs
from rahat.geo.hazards.grid import ArrayRasterGrid
from rahat.geo.hazards.raster import check_decoded, check_pixels
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult

_LON = re.compile(r"^(lon|long|lng|longitude)$", re.IGNORECASE)
_LAT = re.compile(r"^(lat|latitude)$", re.IGNORECASE)
_X = re.compile(r"^(x|easting)$", re.IGNORECASE)
_Y = re.compile(r"^(y|northing)$", re.IGNORECASE)
#: Largest offset of a point from its grid node, as a fraction of the spacing.
_SNAP_TOLERANCE = 0.01
#: Largest absolute coordinate accepted (metres or feet of any projection stay far below).
_MAX_COORDINATE = 1e9


def _find(columns: list[str], pattern: re.Pattern[str]) -> str | None:
    return next((c for c in columns if pattern.match(c.strip())), None)


def _count_lines(path: str | Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def _check_separator(path: str | Path) -> None:
    """Refuse a CSV whose header is separated by something other than commas."""
    from rahat.geo.hazards.sniff import CSV_SEPARATORS, read_head

    text = read_head(path, 4096).decode("utf-8", errors="replace").lstrip("\ufeff")
    header = text.splitlines()[0] if text else ""
    if "," in header:
        return
    names = {";": "semicolons", "\t": "tabs", "|": "'|'"}
    for sep in CSV_SEPARATORS[1:]:
        if sep in header:
            raise UnreadableFileError(
                f"the CSV is separated by {names[sep]}, not commas (header {header[:80]!r}); "
                "send comma-separated lon,lat,value with '.' as the decimal point",
                source=path,
            )


def _axis(values: np.ndarray, label: str, source: str | Path) -> tuple[float, float, int]:
    """Return ``(origin, step, n)`` of the regular axis the coordinates lie on."""
    if np.max(np.abs(values)) > _MAX_COORDINATE:
        raise SchemaError(
            f"the points' {label} values reach {np.max(np.abs(values)):.6g}, beyond any "
            "coordinate on Earth; fix the coordinates or the CRS",
            source=source,
        )
    unique = np.unique(np.round(values, 9))
    if len(unique) < 2:
        raise SchemaError(
            f"all points share one {label} value; a point grid needs at least two columns and "
            "two rows of points",
            source=source,
        )
    step = float(np.median(np.diff(unique)))
    index = np.rint((unique - unique[0]) / step)
    if np.max(np.abs(unique - (unique[0] + index * step))) > _SNAP_TOLERANCE * step:
        raise SchemaError(
            f"the points' {label} values are not on a regular grid (spacing about {step:g}); "
            "send a regular point grid or a GeoTIFF",
            source=source,
        )
    return float(unique[0]), step, int(index[-1]) + 1


@READERS.register("csv")
def read_points(request: ReadRequest) -> ReadResult:
    """Read ``lon,lat,value`` points lying on a regular grid into an in-memory raster.

    Points are snapped to the nodes of the regular grid their coordinates form; grid cells
    without a point are NaN (no data). Columns ``lon``/``lat`` (or ``longitude``/``latitude``)
    mean EPSG:4326; ``x``/``y`` need the CRS stated by the caller.

    Parameters
    ----------
    request
        The CSV file (with a header row); the CRS stated by the caller; the column holding the
        values (``intensity_field``; default ``value``, or the only other numeric column);
        ``max_points``, and ``max_pixels`` and ``max_decoded_bytes`` (8 bytes a cell) for the
        grid the points span, checked before the grid is allocated; the list that receives
        warnings (duplicate points).

    Raises
    ------
    TooLargeError, UnreadableFileError, SchemaError, AttributeFieldError, CRSError,
    EmptyDataError
    """
    import pandas as pd
    from affine import Affine
    from pyproj import CRS

    path, crs, value_field = request.path, request.crs, request.intensity_field
    limits, warnings = request.limits, request.warnings
    n_lines = _count_lines(path)
    if n_lines - 1 > limits.max_points:
        raise TooLargeError(
            f"has about {n_lines - 1:,} points, more than the limit of {limits.max_points:,}; "
            "send a GeoTIFF instead",
            source=path,
        )
    _check_separator(path)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableFileError(
            f"cannot be parsed as CSV ({exc}); send comma-separated lon,lat,value with a header",
            source=path,
        ) from None
    if df.empty:
        raise EmptyDataError("the CSV has no points", source=path)
    columns = [str(c) for c in df.columns]
    xcol, ycol = _find(columns, _LON), _find(columns, _LAT)
    file_crs = CRS.from_epsg(4326) if xcol and ycol else None
    if file_crs is None:
        xcol, ycol = _find(columns, _X), _find(columns, _Y)
    if not xcol or not ycol:
        raise SchemaError(
            f"needs coordinate columns lon,lat (or x,y with a stated CRS); found {columns}",
            source=path,
        )
    layer_crs = resolve_crs(file_crs, crs, path)
    vcol = value_field
    if vcol is None:
        rest = [c for c in columns if c not in (xcol, ycol)]
        if not rest:
            raise AttributeFieldError(
                f"has only the coordinate columns {xcol!r} and {ycol!r} and no column of "
                "values; send lon,lat,value (a column with the hazard intensity per point)",
                source=path,
            )
        numeric = [c for c in rest if pd.api.types.is_numeric_dtype(df[c])]
        vcol = "value" if "value" in rest else (numeric[0] if len(numeric) == 1 else None)
        if vcol is None:
            raise AttributeFieldError(
                f"cannot tell which column holds the values among {rest}; name it "
                "(intensity_field=... / --field)",
                source=path,
            )
    if vcol not in columns:
        raise AttributeFieldError(f"has no column {vcol!r}; its columns are {columns}", source=path)
    try:
        x = pd.to_numeric(df[xcol]).to_numpy(float)
        y = pd.to_numeric(df[ycol]).to_numpy(float)
    except (ValueError, TypeError):
        raise SchemaError(
            f"coordinate columns {xcol!r}/{ycol!r} hold non-numbers; fix the CSV", source=path
        ) from None
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise SchemaError("some points have no coordinates; remove those rows", source=path)
    try:
        v = pd.to_numeric(df[vcol]).to_numpy(float)
    except (ValueError, TypeError):
        raise AttributeFieldError(
            f"column {vcol!r} is not numeric; name a numeric column", source=path
        ) from None
    x0, dx, nx = _axis(x, xcol, path)
    y0, dy, ny = _axis(y, ycol, path)
    # the implied grid is checked before it is allocated: 4 points can span billions of cells
    check_pixels(nx, ny, limits, path, what="the points span a grid of")
    check_decoded(nx * ny, 8, limits, path, "the grid the points span")
    col = np.rint((x - x0) / dx).astype(np.intp)
    row = (ny - 1) - np.rint((y - y0) / dy).astype(np.intp)
    flat = row * nx + col
    array = np.full(ny * nx, np.nan)
    if len(np.unique(flat)) < len(flat):
        warnings.append("several points fall on the same grid node; the largest value is kept")
    np.fmax.at(array, flat, v)
    top = y0 + (ny - 1) * dy
    transform = Affine(dx, 0.0, x0 - dx / 2, 0.0, -dy, top + dy / 2)
    grid = ArrayRasterGrid(array=array.reshape(ny, nx), transform=transform, nodata=None)
    return ReadResult(crs=layer_crs, grid=grid, names=[vcol])
