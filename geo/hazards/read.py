"""``read_hazard``: sniff the format, read with the right reader, validate, return a layer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rahat.geo.errors import CRSError, EmptyDataError, NoOverlapError, UnreadableFileError

# the reader modules register themselves on READERS when imported
from rahat.geo.hazards import cap_layer, netcdf, points, raster, vector  # noqa: F401
from rahat.geo.hazards.classes import Classification, default_classes
from rahat.geo.hazards.crs import parse_crs
from rahat.geo.hazards.kinds import HazardKind, guess_kind, parse_kind
from rahat.geo.hazards.layer import HazardLayer
from rahat.geo.hazards.limits import DEFAULT_LIMITS, HazardLimits
from rahat.geo.hazards.provenance import provenance_of
from rahat.geo.hazards.readers import READERS, ReadRequest
from rahat.geo.hazards.sniff import sniff_format
from rahat.geo.hazards.time import TimeSelection, to_datetime

#: Format names recorded in ``HazardLayer.source_format`` where they differ from the sniffed name.
_FORMAT_NAMES = {"tiff": "geotiff"}
_NOT_A_LAYER = (
    "is neither a raster nor a vector layer Rahat can read; send GeoTIFF, NetCDF, GeoJSON, "
    "GeoPackage, zipped Shapefile, TopoJSON, GeoParquet or CSV lon,lat,value"
)


def read_hazard(
    path: str | Path,
    *,
    kind: HazardKind | str | None = None,
    name: str | None = None,
    crs: Any = None,
    intensity_field: str | None = None,
    time: TimeSelection | None = None,
    sender: str | None = None,
    registry_extent: tuple[float, float, float, float] | None = None,
    limits: HazardLimits = DEFAULT_LIMITS,
    layer: str | None = None,
    classes: Classification | Mapping[str, Any] | None = None,
    valid_time: Any = None,
) -> HazardLayer:
    """Read, validate and normalise one hazard file.

    The format is recognised from the content (GeoTIFF/COG, NetCDF, zip, GeoPackage,
    GeoParquet, GeoJSON, TopoJSON, Shapefile, CSV points, CAP 1.2 alerts: see
    :mod:`rahat.geo.hazards.cap_layer`). Size limits are checked from headers before any data is
    read; rasters are then streamed block by block once to detect corrupt blocks and
    all-nodata files (nothing is written anywhere).

    Parameters
    ----------
    path
        The file as received.
    kind
        Hazard kind of the returned layer (for a duration, the kind of the result); inferred
        from file/variable metadata and the file name when ``None``, else ``generic``.
    name
        Layer name; defaults to the file stem.
    crs
        CRS to assume when the file has none (``EPSG:xxxx``, WKT, ``pyproj.CRS``).
    intensity_field
        Vector attribute, CSV column or NetCDF variable with the intensity or class values.
    time
        How to reduce a time axis (default: maximum over all steps, with a warning).
    sender
        Who sent the file (recorded in provenance).
    registry_extent
        ``(west, south, east, north)`` in degrees; the layer must overlap it.
    limits
        Size limits.
    layer
        Layer of a multi-layer vector file.
    classes
        A :class:`Classification`, or an override of this kind's entry in ``classes.yaml``
        (``{"thresholds": [...], "labels": [...]}``; keys left out keep their default).
    valid_time
        Time the layer is valid for, when the file does not say (``datetime`` or ISO string,
        or a ``(start, end)`` pair).

    Returns
    -------
    HazardLayer

    Raises
    ------
    rahat.geo.errors.InputError
        A subclass naming the file and what to do: ``UnreadableFileError``, ``TooLargeError``,
        ``CRSError``, ``GeometryError``, ``UnsafeArchiveError``, ``AttributeFieldError``,
        ``EmptyDataError``, ``NoOverlapError``, ``SchemaError``.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> samples = repo_root() / "data" / "samples"
    >>> layer = read_hazard(samples / "flood_depth_sample.tif", kind="flood_depth", name="depth")
    >>> layer.kind.value, layer.crs.to_epsg(), (layer.grid.width, layer.grid.height)
    ('flood_depth', 32642, (64, 64))
    >>> layer.classes.labels
    ('dry', 'low', 'medium', 'high')
    """
    path = Path(path)
    kind_ = parse_kind(kind)
    caller_crs = parse_crs(crs, source=path)
    warnings: list[str] = []
    fmt = sniff_format(path)
    gdal_path = str(path)
    if fmt == "zip":
        from rahat.geo.hazards.archive import check_zip, vsizip_path

        member, fmt = check_zip(path, limits)
        gdal_path = vsizip_path(path, member)
    if fmt == "unknown":
        fmt = _probe(gdal_path, path)
    reader = READERS.get(fmt)
    if reader is None:
        raise UnreadableFileError(_NOT_A_LAYER, source=path)
    request = ReadRequest(
        path=path,
        gdal_path=gdal_path,
        fmt=fmt,
        crs=caller_crs,
        intensity_field=intensity_field,
        time=time,
        limits=limits,
        warnings=warnings,
        registry_extent=registry_extent,
        layer=layer,
    )
    found = reader(request)
    names, units = found.names, found.units
    if found.duration_units is not None:
        units = found.duration_units
        if kind_ is None:
            base = guess_kind(*names, path.stem)
            floods = (HazardKind.FLOOD_DEPTH, HazardKind.FLOOD_EXTENT, None)
            kind_ = HazardKind.FLOOD_DURATION if base in floods else HazardKind.GENERIC
    kind_ = kind_ or guess_kind(*names, units, path.stem) or HazardKind.GENERIC
    layer_time = _valid_time(valid_time) if valid_time is not None else found.valid_time
    if isinstance(classes, Classification):
        classification = classes
    else:
        classification = default_classes(kind_, {kind_.value: classes} if classes else None)
    result = HazardLayer(
        name=name or path.stem,
        kind=kind_,
        units=units or classification.units or kind_.default_units,
        crs=found.crs,
        grid=found.grid,
        vector=found.vector,
        valid_time=layer_time,
        provenance=provenance_of(path, sender),
        classes=classification,
        source_format=_FORMAT_NAMES.get(fmt, fmt),
        warnings=tuple(warnings),
        time_applied=found.time_applied,
    )
    _check_coordinates(result, path)
    if registry_extent is not None:
        check_overlap(result, registry_extent)
    if result.grid is not None:
        stats = _scan(result, path)
        result = result.replace(stats=stats)
        if stats.infinite_count:
            note = (
                f"{stats.infinite_count:,} cells hold an infinite value (+inf or -inf); they are "
                "treated as no data"
            )
            result = result.replace(warnings=(*result.warnings, note))
    return result


def _valid_time(value: Any) -> tuple[datetime, datetime]:
    if isinstance(value, tuple | list):
        return (to_datetime(value[0]), to_datetime(value[1]))
    t = to_datetime(value)
    return (t, t)


def _probe(gdal_path: str, source: Path) -> str:
    """Ask GDAL whether an unrecognised file is a raster or a vector."""
    import pyogrio
    import rasterio

    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        try:
            with rasterio.open(gdal_path):
                return "gdal-raster"
        except Exception:
            pass
    try:
        pyogrio.read_info(gdal_path)
        return "gdal-vector"
    except Exception:
        raise UnreadableFileError(_NOT_A_LAYER, source=source) from None


#: Largest absolute coordinate accepted in any CRS (metres or feet stay far below).
_MAX_COORDINATE = 1e9


def _check_coordinates(layer: HazardLayer, source: Path) -> None:
    minx, miny, maxx, maxy = layer.bounds()
    box = f"({minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g})"
    if not all(math.isfinite(v) and abs(v) <= _MAX_COORDINATE for v in (minx, miny, maxx, maxy)):
        raise CRSError(
            f"coordinates {box} are not finite or lie beyond any place on Earth; fix the "
            "coordinates (or the geotransform) and send the file again",
            source=source,
        )
    if not layer.crs.is_geographic:
        degrees = minx >= -180.5 and maxx <= 360.5 and miny >= -90.5 and maxy <= 90.5
        if degrees and layer.vector is not None:
            raise CRSError(
                f"coordinates {box} look like longitude / latitude degrees, but the file says "
                f"its CRS is {layer.crs.to_string()} (in {_unit(layer)}); the two contradict "
                "each other: fix the file's CRS (a GeoJSON 'crs' member) or its coordinates",
                source=source,
            )
        try:
            extent = layer.extent_wgs84()
        except Exception:
            extent = (math.inf,) * 4
        if not all(math.isfinite(v) for v in extent):
            raise CRSError(
                f"coordinates {box} cannot be placed on Earth in the stated CRS "
                f"{layer.crs.to_string()}; state the real CRS or fix the coordinates",
                source=source,
            )
        return
    if minx < -180.5 or maxx > 360.5 or miny < -90.5 or maxy > 90.5:
        raise CRSError(
            f"coordinates ({minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}) are outside longitude "
            f"/ latitude range, so the stated CRS {layer.crs.to_string()} is wrong; state the "
            "real CRS",
            source=source,
        )


def _unit(layer: HazardLayer) -> str:
    try:
        return str(layer.crs.axis_info[0].unit_name) + "s"
    except Exception:  # pragma: no cover - every projected CRS has axes
        return "projected units"


def check_overlap(layer: HazardLayer, extent: tuple[float, float, float, float]) -> None:
    """Raise :class:`NoOverlapError` if ``layer`` does not overlap the lon/lat ``extent``.

    Rasters are compared by extent; vector footprints polygon by polygon.
    """
    west, south, east, north = extent
    lw, ls, le, ln = layer.extent_wgs84()
    hit = not (le < west or lw > east or ln < south or ls > north)
    if hit and layer.vector is not None:
        import shapely
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", layer.crs, always_xy=True)
        box = shapely.box(*tr.transform_bounds(west, south, east, north, densify_pts=21))
        hit = bool(shapely.intersects(layer.vector.geometry.values, box).any())
    if not hit:
        raise NoOverlapError(
            f"the footprint ({lw:.4f}, {ls:.4f}, {le:.4f}, {ln:.4f}) does not overlap the "
            f"registry's extent ({west:.4f}, {south:.4f}, {east:.4f}, {north:.4f}); check that "
            "the right file and CRS were sent",
            source=layer.provenance.file_name,
        )


def _scan(layer: HazardLayer, source: Path) -> Any:
    from rasterio.errors import RasterioError

    from rahat.geo.hazards.area import scan_raster
    from rahat.geo.hazards.scan_store import stored_scan

    grid = layer.grid
    assert grid is not None
    try:
        stats = stored_scan(layer, lambda: scan_raster(grid, layer.crs, layer.classes))
    except RasterioError as exc:
        raise UnreadableFileError(
            f"a block of the raster cannot be decoded, the file is truncated or corrupt ({exc}); "
            "ask the sender for the file again",
            source=source,
        ) from None
    if stats.valid_count == 0:
        raise EmptyDataError(
            "every cell of the raster is no-data; ask the sender for the layer with values",
            source=source,
        )
    return stats
