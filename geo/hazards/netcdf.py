"""Read a NetCDF hazard variable (CF conventions), optionally with a time axis."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rahat.geo.errors import (
    AttributeFieldError,
    SchemaError,
    TooLargeError,
    UnreadableFileError,
)
from rahat.geo.hazards.crs import resolve_crs
from rahat.geo.hazards.grid import ArrayRasterGrid
from rahat.geo.hazards.limits import HazardLimits
from rahat.geo.hazards.raster import check_header_pixels, check_pixels
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult
from rahat.geo.hazards.time import (
    TimeSelection,
    applied,
    reduce_time,
    step_units,
    to_datetime,
)

if TYPE_CHECKING:
    import pyproj
    import xarray as xr

#: CF rules that make a dimension a time, x or y axis, tried in order: the axis, its ``axis``
#: attribute, its ``standard_name`` values and its (lower-case) dimension names. A datetime
#: coordinate is a time axis whatever its attributes; a ``units`` of ``degrees_east`` /
#: ``degrees_north`` (:data:`_AXIS_UNITS`) decides only when no rule does.
_AXIS_RULES: tuple[tuple[str, str, frozenset[str], frozenset[str]], ...] = (
    ("t", "T", frozenset({"time"}), frozenset()),
    (
        "x",
        "X",
        frozenset({"longitude", "grid_longitude", "projection_x_coordinate"}),
        frozenset({"x", "lon", "longitude", "easting", "rlon"}),
    ),
    (
        "y",
        "Y",
        frozenset({"latitude", "grid_latitude", "projection_y_coordinate"}),
        frozenset({"y", "lat", "latitude", "northing", "rlat"}),
    ),
)
_AXIS_UNITS = (("x", "degrees_east"), ("y", "degrees_north"))


def _axis_kind(ds: xr.Dataset, dim: str) -> str | None:
    """Return ``"t"``, ``"x"`` or ``"y"`` for a CF time, x or y dimension, else ``None``."""
    coord = ds[dim] if dim in ds.variables else None
    if coord is not None and coord.dtype.kind == "M":
        return "t"
    attrs = coord.attrs if coord is not None else {}
    std = str(attrs.get("standard_name", "")).lower()
    axis = str(attrs.get("axis", "")).upper()
    units = str(attrs.get("units", "")).lower()
    for kind, cf_axis, std_names, dim_names in _AXIS_RULES:
        if axis == cf_axis or std in std_names or dim.lower() in dim_names:
            return kind
    return next((kind for kind, prefix in _AXIS_UNITS if units.startswith(prefix)), None)


def _pick_variable(ds: xr.Dataset, name: str | None, source: Path) -> str:
    if name is not None:
        if name not in ds.data_vars:
            raise AttributeFieldError(
                f"has no variable {name!r}; its variables are {list(map(str, ds.data_vars))}",
                source=source,
            )
        return name
    candidates = [
        str(v)
        for v, da in ds.data_vars.items()
        if {"x", "y"} <= {_axis_kind(ds, str(d)) for d in da.dims}
    ]
    if not candidates:
        raise SchemaError(
            "has no gridded variable with x/y (or lon/lat) dimensions; send a CF-compliant NetCDF",
            source=source,
        )
    if len(candidates) > 1:
        raise SchemaError(
            f"has several gridded variables ({', '.join(candidates)}); name the one to use "
            "(intensity_field=... / --field)",
            source=source,
        )
    return candidates[0]


def regular_spacing(values: np.ndarray, dim: str, source: Path) -> float:
    """The step of an evenly spaced coordinate; :class:`SchemaError` if it is not one."""
    if len(values) < 2:
        raise SchemaError(f"dimension {dim!r} has fewer than 2 cells", source=source)
    steps = np.diff(values.astype(float))
    if not np.allclose(steps, steps[0], rtol=1e-5, atol=0):
        raise SchemaError(
            f"coordinate {dim!r} is not evenly spaced; regrid to a regular grid and send that",
            source=source,
        )
    return float(steps.mean())


def stated_crs(ds: xr.Dataset, var: str) -> pyproj.CRS | None:
    """The CRS the file states for ``var`` through CF, without rioxarray (``None``: none).

    The variable named by ``var``'s ``grid_mapping`` (else one called ``spatial_ref`` or
    ``crs``), read by its CF attributes or, failing that, its ``crs_wkt`` / ``spatial_ref`` WKT.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjError

    mapping = ds[var].encoding.get("grid_mapping") or ds[var].attrs.get("grid_mapping")
    for name in (mapping, "spatial_ref", "crs"):
        if not name or str(name) not in ds.variables:
            continue
        attrs = dict(ds[str(name)].attrs)
        try:
            return CRS.from_cf(attrs)
        except ProjError:
            wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            if wkt:
                try:
                    return CRS.from_wkt(str(wkt))
                except ProjError:
                    pass
    return None


def _crs_of(ds: xr.Dataset, var: str, xdim: str) -> tuple[pyproj.CRS | None, bool]:
    """Return ``(crs, assumed)``; ``assumed`` is true for WGS 84 implied by lon/lat axes."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from pyproj import CRS

    try:
        rio_crs = ds[var].rio.crs or ds.rio.crs
    except Exception:
        rio_crs = None
    if rio_crs is not None:
        return CRS.from_user_input(rio_crs.to_wkt()), False
    stated = stated_crs(ds, var)
    if stated is not None:
        return stated, False
    xs = str(ds[xdim].attrs.get("standard_name", "")) if xdim in ds.variables else ""
    xu = str(ds[xdim].attrs.get("units", "")) if xdim in ds.variables else ""
    if xs == "longitude" or xu.startswith("degrees_east"):
        return CRS.from_epsg(4326), True
    return None, False


def _dtype_name(dtype: np.dtype) -> str:
    return "strings" if dtype.kind in "USO" else f"values of type {dtype}"


def _check_decoded_size(
    raw: xr.DataArray,
    da: xr.DataArray,
    nx: int,
    ny: int,
    nt: int,
    limits: HazardLimits,
    source: Path,
    *,
    windowed: bool = False,
) -> None:
    """Check, from the header only, the cells and bytes reading ``da`` decodes.

    ``nx`` x ``ny`` are the cells read per time step: the whole grid, or the window over the
    registry when ``windowed``. The work is every cell read of every time step; the memory one
    decoded time step (in the dtype after scaling) and one compressed chunk (a chunk is
    decompressed whole, whatever slice of it is asked for).
    """
    from rahat.geo.hazards.raster import check_decoded

    what = "the window over the registry of " if windowed else ""
    if windowed:
        check_pixels(nx, ny, limits, source, what="the window over the registry has")
    else:
        check_pixels(nx, ny, limits, source)
    work = nx * ny * nt
    if work > limits.max_pixels:
        raise TooLargeError(
            f"{what}variable {raw.name!r} has {nx} x {ny} cells x {nt:,} time steps = "
            f"{work:,} cells to decode, more than the limit of {limits.max_pixels:,} "
            "(HazardLimits.max_pixels); ask the sender for fewer time steps or a clipped or "
            "coarser grid",
            source=source,
        )
    itemsize = max(
        np.dtype(da.dtype).itemsize, np.dtype(raw.encoding.get("dtype", da.dtype)).itemsize
    )
    check_decoded(nx * ny, itemsize, limits, source, f"one time step of {what}the variable")
    chunks = raw.encoding.get("chunksizes")
    if chunks:
        cells = 1
        for n in chunks:
            cells *= int(n)
        stored = np.dtype(raw.encoding.get("dtype", da.dtype)).itemsize
        check_decoded(cells, stored, limits, source, "one compressed chunk of the variable")


def _file_slice(start: int, count: int, n: int, flipped: bool) -> slice:
    """Return the file's index slice of north-up cells ``start .. start + count - 1``."""
    if flipped:
        return slice(n - start - count, n - start)
    return slice(start, start + count)


@READERS.register("netcdf")
def read_netcdf(request: ReadRequest) -> ReadResult:
    """Read one gridded NetCDF variable, reducing its time axis as asked.

    The variable is ``request.intensity_field``, else the only gridded one; its time axis is
    reduced as ``request.time`` says.

    The x/y dimensions are found from CF attributes (``axis``, ``standard_name``, ``units``)
    or names; the CRS from ``grid_mapping`` (via rioxarray), else WGS 84 for CF longitude /
    latitude coordinates, else the caller's. Only the header is read before the size checks
    (cells x time steps against ``max_pixels``; one decoded time step and one compressed chunk
    against ``max_decoded_bytes``); time steps are then read one at a time.

    With ``request.registry_extent`` (``(west, south, east, north)`` in degrees) only the
    window of the grid over it is read, for every time step, by the same rule as a GeoTIFF's
    (:func:`rahat.geo.hazards.raster.registry_window`): the size checks apply to the window,
    and the whole grid only has to be within ``max_header_pixels``. Only the chunks the window
    touches are decompressed.

    Raises
    ------
    UnreadableFileError, SchemaError, AttributeFieldError, TooLargeError, CRSError
    """
    import xarray as xr
    from affine import Affine

    from rahat.geo.hazards.raster import registry_window, window_note

    path, crs, variable, time = request.path, request.crs, request.intensity_field, request.time
    limits, warnings, registry_extent = request.limits, request.warnings, request.registry_extent

    try:
        ds = xr.open_dataset(path, mask_and_scale=True, decode_times=True, decode_coords="all")
    except Exception as exc:
        raise UnreadableFileError(
            f"cannot be opened as NetCDF; it is truncated or corrupt ({exc}); ask the sender again",
            source=path,
        ) from None
    with ds:
        var = _pick_variable(ds, variable, path)
        da = ds[var]
        kinds = {str(d): _axis_kind(ds, str(d)) for d in da.dims}
        xdim = next(d for d, k in kinds.items() if k == "x")
        ydim = next(d for d, k in kinds.items() if k == "y")
        tdim = next((d for d, k in kinds.items() if k == "t"), None)
        extra = [d for d in kinds if d not in (xdim, ydim, tdim)]
        for d in extra:
            if da.sizes[d] != 1:
                raise SchemaError(
                    f"variable {var!r} has an extra dimension {d!r} of size {da.sizes[d]}; "
                    "send one slice of it",
                    source=path,
                )
        da = da.isel({d: 0 for d in extra})
        if da.dtype.kind not in "biuf":
            raise SchemaError(
                f"variable {var!r} holds {_dtype_name(da.dtype)}, not numbers; name a numeric "
                "variable (intensity_field=... / --field)",
                source=path,
            )
        nx, ny = int(da.sizes[xdim]), int(da.sizes[ydim])
        nt = int(da.sizes[tdim]) if tdim else 1
        if registry_extent is None:
            check_pixels(nx, ny, limits, path)
        else:
            check_header_pixels(nx, ny, limits, path)
        if nt > limits.max_time_steps:
            raise TooLargeError(
                f"variable {var!r} has {nt:,} time steps, more than {limits.max_time_steps:,}",
                source=path,
            )
        if registry_extent is None:
            _check_decoded_size(ds[var], da, nx, ny, nt, limits, path)
        file_crs, assumed = _crs_of(ds, var, xdim)
        layer_crs = resolve_crs(file_crs, crs, path)
        if assumed:
            warnings.append("no grid_mapping in the file; its lon/lat coordinates read as WGS 84")
        xs = np.asarray(da[xdim].values, dtype=float)
        ys = np.asarray(da[ydim].values, dtype=float)
        dx, dy = regular_spacing(xs, xdim, path), regular_spacing(ys, ydim, path)
        da = da.transpose(*([tdim] if tdim else []), ydim, xdim)
        flip_y, flip_x = dy > 0, dx < 0
        x_left = float(min(xs[0], xs[-1])) - abs(dx) / 2
        y_top = float(max(ys[0], ys[-1])) + abs(dy) / 2
        transform = Affine(abs(dx), 0.0, x_left, 0.0, -abs(dy), y_top)
        window = None
        if registry_extent is not None:
            # a chunk is decompressed whole either way: whole cells are enough
            window = registry_window(transform, (ny, nx), (1, 1), layer_crs, registry_extent)
        windowed = window is not None and window[2:] != (ny, nx)
        if window is not None and windowed:
            row0, col0, rows, cols = window
            warnings.append(window_note(window, (ny, nx), "grid"))
            transform = transform @ Affine.translation(col0, row0)
            da = da.isel(
                {
                    ydim: _file_slice(row0, rows, ny, flip_y),
                    xdim: _file_slice(col0, cols, nx, flip_x),
                }
            )
            ny, nx = rows, cols
        if registry_extent is not None:
            _check_decoded_size(ds[var], da, nx, ny, nt, limits, path, windowed=windowed)

        def orient(a: np.ndarray) -> np.ndarray:
            if flip_y:
                a = a[::-1]
            if flip_x:
                a = a[:, ::-1]
            return np.ascontiguousarray(a)

        valid_time = None
        duration_units = None
        time_applied = None
        if tdim is None:
            values = orient(np.asarray(da.values))
        else:
            times = [to_datetime(t) for t in np.asarray(da[tdim].values)]
            order = np.argsort(np.asarray([t.timestamp() for t in times]))
            times_sorted = [times[i] for i in order]

            def read_step(i: int) -> np.ndarray:
                return np.asarray(da.isel({tdim: int(order[i])}).values)

            asked = time is not None
            if time is None:
                time = TimeSelection.max_over()
                if nt > 1:
                    warnings.append(
                        f"the file has {nt} time steps and no time selection was given; the "
                        "maximum over all of them is used"
                    )
            reduced = reduce_time(times_sorted, read_step, time, source=str(path))
            if reduced.note:
                warnings.append(reduced.note)
            values = orient(reduced.values)
            valid_time = reduced.valid_time
            time_applied = applied(times_sorted, time, reduced, asked=asked)
            if time.mode == "duration":
                duration_units = step_units(times_sorted)
        attrs: dict[str, Any] = dict(ds[var].attrs)
        nodata = None if values.dtype.kind == "f" else attrs.get("_FillValue")
        grid = ArrayRasterGrid(array=values, transform=transform, nodata=nodata)
        names = [var, str(attrs.get("standard_name", "")), str(attrs.get("long_name", ""))]
        units = str(attrs["units"]) if "units" in attrs else None
    return ReadResult(
        crs=layer_crs,
        grid=grid,
        names=names,
        units=units,
        valid_time=valid_time,
        duration_units=duration_units,
        time_applied=time_applied,
    )
