"""Open GeoTIFF / Cloud-Optimised GeoTIFF (and other GDAL rasters) as lazy grids.

Only the header is read here. The pixel count is taken from the TIFF header itself (a few
bytes, before GDAL sees the file) and again from GDAL's header, and refused above the limit
before any pixel is read.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from rahat.geo.errors import CRSError, SchemaError, TooLargeError, UnreadableFileError
from rahat.geo.hazards.crs import resolve_crs
from rahat.geo.hazards.grid import FileRasterGrid
from rahat.geo.hazards.limits import HazardLimits
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult
from rahat.geo.hazards.time import parse_time_text

if TYPE_CHECKING:
    import pyproj

_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}


def tiff_dimensions(source: str | Path | BinaryIO) -> tuple[int, int] | None:
    """Return ``(width, height)`` of the first image of a TIFF from its header, or ``None``.

    Reads only the header and the first IFD (classic TIFF and BigTIFF, both byte orders).

    Parameters
    ----------
    source
        A path, or a seekable binary file object (for example a zip member).
    """
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as fh:
                return _tiff_dimensions(fh)
        return _tiff_dimensions(source)
    except (OSError, struct.error, EOFError):
        return None


def _tiff_dimensions(fh: BinaryIO) -> tuple[int, int] | None:
    head = fh.read(16)
    if len(head) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        return None
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        fh.seek(struct.unpack(order + "I", head[4:8])[0])
        count = struct.unpack(order + "H", fh.read(2))[0]
        entry, fmt_entry, value_at = 12, "HHI", 8
    elif magic == 43 and len(head) >= 16:
        fh.seek(struct.unpack(order + "Q", head[8:16])[0])
        count = struct.unpack(order + "Q", fh.read(8))[0]
        entry, fmt_entry, value_at = 20, "HHQ", 12
    else:
        return None
    raw = fh.read(entry * min(count, 4096))
    dims: dict[int, int] = {}
    for i in range(len(raw) // entry):
        rec = raw[i * entry : (i + 1) * entry]
        tag, typ, _n = struct.unpack(order + fmt_entry, rec[:value_at])
        if tag in (256, 257) and typ in _TIFF_TYPES:
            code, size = _TIFF_TYPES[typ]
            dims[tag] = struct.unpack(order + code, rec[value_at : value_at + size])[0]
    if 256 in dims and 257 in dims:
        return dims[256], dims[257]
    return None


def check_pixels(
    width: int,
    height: int,
    limits: HazardLimits,
    source: str | Path,
    *,
    what: str = "raster claims",
) -> None:
    """Raise :class:`TooLargeError` if ``width * height`` exceeds ``limits.max_pixels``."""
    if width * height > limits.max_pixels:
        raise TooLargeError(
            f"{what} {width} x {height} = {width * height:,} pixels, more than the limit "
            f"of {limits.max_pixels:,} (HazardLimits.max_pixels); ask the sender for a coarser "
            "or clipped raster, or raise HazardLimits.max_pixels",
            source=source,
        )


def check_header_pixels(width: int, height: int, limits: HazardLimits, source: str | Path) -> None:
    """Raise :class:`TooLargeError` if a header claims more than ``max_header_pixels``."""
    if width * height > limits.max_header_pixels:
        raise TooLargeError(
            f"raster claims {width} x {height} = {width * height:,} pixels, more than the limit "
            f"of {limits.max_header_pixels:,} (HazardLimits.max_header_pixels); ask the sender "
            "for a coarser or clipped raster",
            source=source,
        )


def check_decoded(
    cells: int, itemsize: int, limits: HazardLimits, source: str | Path, what: str
) -> None:
    """Raise :class:`TooLargeError` if ``cells * itemsize`` exceeds ``max_decoded_bytes``.

    ``what`` names the thing decoded, for the message (``"the raster"``, ``"one time step"``).
    """
    decoded = cells * itemsize
    if decoded > limits.max_decoded_bytes:
        raise TooLargeError(
            f"{what} decodes to {cells:,} cells x {itemsize} bytes = {decoded:,} bytes "
            f"({decoded / 1024**3:.2f} GiB), more than the limit of "
            f"{limits.max_decoded_bytes:,} bytes (HazardLimits.max_decoded_bytes); ask the "
            "sender for a coarser or clipped layer, or raise HazardLimits.max_decoded_bytes",
            source=source,
        )


def registry_window(
    transform: Any,
    shape: tuple[int, int],
    block: tuple[int, int],
    crs: pyproj.CRS,
    extent: tuple[float, float, float, float],
    margin_deg: float = 0.1,
) -> tuple[int, int, int, int] | None:
    """Return ``(row0, col0, rows, cols)`` of the cells over ``extent`` (lon/lat), or ``None``.

    The extent is grown by ``margin_deg`` degrees (room for a sampling radius), transformed
    into the raster's CRS with densified edges, and the window rounded out to whole blocks (a
    block is decoded whole anyway). ``None`` when the extent cannot be transformed or misses
    the raster (the overlap check then says so).
    """
    import math

    from pyproj import Transformer

    west, south, east, north = extent
    try:
        tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        minx, miny, maxx, maxy = tr.transform_bounds(
            max(west - margin_deg, -180.0),
            max(south - margin_deg, -90.0),
            min(east + margin_deg, 180.0),
            min(north + margin_deg, 90.0),
            densify_pts=21,
        )
    except Exception:
        return None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return None
    # north-up, unrotated (checked by the caller)
    cols = [(x - transform.c) / transform.a for x in (minx, maxx)]
    rows = [(y - transform.f) / transform.e for y in (miny, maxy)]
    rows_n, cols_n = shape
    bh, bw = max(1, block[0]), max(1, block[1])
    r0 = max(0, math.floor(min(rows)) // bh * bh)
    c0 = max(0, math.floor(min(cols)) // bw * bw)
    r1 = min(rows_n, -(-math.ceil(max(rows)) // bh) * bh)
    c1 = min(cols_n, -(-math.ceil(max(cols)) // bw) * bw)
    if r1 <= r0 or c1 <= c0:
        return None
    return (int(r0), int(c0), int(r1 - r0), int(c1 - c0))


def window_note(window: tuple[int, int, int, int], shape: tuple[int, int], what: str) -> str:
    """Return the warning that names the window read of a ``what`` (``"raster"``, ``"grid"``).

    ``window`` is ``(row0, col0, rows, cols)`` as :func:`registry_window` returns it and
    ``shape`` the ``(rows, cols)`` of the whole layer, both north-up.
    """
    row0, col0, rows, cols = window
    return (
        f"only the window over the registry is read: {rows} x {cols} of the {what}'s "
        f"{shape[0]} x {shape[1]} cells (rows {row0}-{row0 + rows - 1}, columns "
        f"{col0}-{col0 + cols - 1})"
    )


def _python_scalar(value: Any) -> float | int | None:
    if value is None:
        return None
    f = float(value)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


@READERS.register("tiff", "gdal-raster")
def open_raster(request: ReadRequest) -> ReadResult:
    """Open a raster's header and return a lazy grid.

    Without ``request.registry_extent`` the whole raster must be within the cell and
    decoded-size limits; with it, only the window over the registry (whole blocks) is read and
    checked, and the header only against ``max_header_pixels``.

    Parameters
    ----------
    request
        The file (``gdal_path`` is what GDAL opens, ``path`` names it in messages), the
        caller's CRS (used when the file has none), limits, warnings and registry extent.

    Raises
    ------
    TooLargeError, CRSError, UnreadableFileError, SchemaError
    """
    import rasterio
    from affine import Affine
    from pyproj import CRS
    from rasterio.errors import RasterioIOError

    gdal_path, source, crs = request.gdal_path, request.path, request.crs
    limits, warnings, registry_extent = request.limits, request.warnings, request.registry_extent

    if not gdal_path.startswith("/vsi"):
        dims = tiff_dimensions(gdal_path)
        if dims is not None:
            check_header_pixels(dims[0], dims[1], limits, source)
            if registry_extent is None:
                check_pixels(dims[0], dims[1], limits, source)
    # /vsizip/ members were checked by rahat.geo.hazards.archive before GDAL sees them
    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        try:
            src = rasterio.open(gdal_path)
        except RasterioIOError as exc:
            raise UnreadableFileError(
                f"cannot be opened as a raster, the file is truncated, corrupt or not a raster "
                f"({exc}); ask the sender for a valid GeoTIFF",
                source=source,
            ) from None
        with src:
            check_header_pixels(src.width, src.height, limits, source)
            t = src.transform
            if t.b != 0 or t.d != 0:
                raise CRSError(
                    "the raster is rotated or sheared; warp it to a north-up grid first "
                    "(gdalwarp) and send that",
                    source=source,
                )
            if t.is_identity or t.e == 0 or t.a == 0:
                raise CRSError(
                    "the raster has no georeferencing (no geotransform); send a GeoTIFF with "
                    "its geotransform and CRS",
                    source=source,
                )
            if t.e > 0:
                raise CRSError(
                    "the raster is stored south-up; flip it to north-up (gdalwarp) and send that",
                    source=source,
                )
            file_crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
            layer_crs = resolve_crs(file_crs, crs, source)
            dtype = np.dtype(src.dtypes[0])
            if dtype.kind not in "biuf":
                raise SchemaError(
                    f"band 1 has data type {dtype}, not a real number; send a numeric band",
                    source=source,
                )
            if src.count > 1:
                warnings.append(f"the raster has {src.count} bands; only band 1 is used")
            block = (int(src.block_shapes[0][0]), int(src.block_shapes[0][1]))
            shape = (int(src.height), int(src.width))
            window = None
            if registry_extent is not None:
                window = registry_window(t, shape, block, layer_crs, registry_extent)
            if window is not None and window[2:] != shape:
                row0, col0, rows, cols = window
                t = t * Affine.translation(col0, row0)
                warnings.append(window_note(window, shape, "raster"))
                shape, offset = (rows, cols), (row0, col0)
            else:
                offset = (0, 0)
            what = "the window over the registry has" if offset != (0, 0) else "raster claims"
            check_pixels(shape[1], shape[0], limits, source, what=what)
            # a pixel-interleaved file decodes every band to read band 1
            interleave = str(getattr(src, "interleaving", "") or "").upper()
            per_cell = (
                sum(np.dtype(d).itemsize for d in src.dtypes)
                if src.count > 1 and interleave.endswith("PIXEL")
                else dtype.itemsize
            )
            check_decoded(
                shape[0] * shape[1],
                per_cell,
                limits,
                source,
                "the window over the registry" if offset != (0, 0) else "the raster",
            )
            grid = FileRasterGrid(
                path=gdal_path,
                band=1,
                transform=t,
                shape=shape,
                nodata=_python_scalar(src.nodata),
                dtype=dtype,
                block_shape=block,
                offset=offset,
            )
            tags = {**src.tags(), **src.tags(1)}
            names = [src.descriptions[0] or "", *(str(v) for k, v in tags.items() if _is_meta(k))]
            units = src.units[0] or tags.get("units") or tags.get("UNITS") or None
            time_text = next(
                (
                    str(tags[k])
                    for k in ("valid_time", "VALID_TIME", "time", "TIME", "TIFFTAG_DATETIME")
                    if k in tags
                ),
                None,
            )
    t = parse_time_text(time_text)
    return ReadResult(
        crs=layer_crs, grid=grid, names=names, units=units, valid_time=(t, t) if t else None
    )


def _is_meta(key: str) -> bool:
    return key.lower() in {"long_name", "standard_name", "kind", "hazard", "name", "description"}
