"""Overlay: the hazard intensity and the zones of every household.

``overlay(registry, hazards, zones)`` samples each hazard layer at every household and assigns
every household to a polygon of each zone layer, with the exact numba kernels of
:mod:`rahat.engine.kernels`. Household coordinates are transformed into each layer's own CRS
(pyproj, ``always_xy=True``); layers are never resampled. Rasters are read only over the
window that holds households, and streamed in row strips when that window is larger than
memory allows.

The inputs split cleanly for scale-out: the result for a range of households depends only on
those households, so partitions can be overlaid independently and concatenated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure, HazardExposure, ZoneExposure
from rahat.engine.kernels.polygons import build_polygon_index, locate
from rahat.engine.kernels.raster import sample_nearest, sample_within_radius
from rahat.engine.zones import ZoneLayer
from rahat.geo.registry.model import Registry
from rahat.geo.registry.order import spatial_order

if TYPE_CHECKING:
    import pyproj
    from rasterio.windows import Window

    from rahat.geo.hazards import HazardLayer

#: Rasters whose household window is larger than this are streamed in row strips.
MAX_RASTER_BYTES = 2 * 1024**3

#: A location-uncertainty radius in metres: one for all households, or one per household.
Radius = float | np.ndarray | None

Reducer = Literal["max", "mean"]


def _has_radius(radius_m: Radius) -> bool:
    """Whether ``radius_m`` asks for any neighbourhood (some radius above 0)."""
    if radius_m is None:
        return False
    return bool(np.any(np.asarray(radius_m, dtype=np.float64) > 0))


class _Projector:
    """Transforms household lon/lat into layer CRSs, once per distinct CRS."""

    def __init__(self, lon: np.ndarray, lat: np.ndarray) -> None:
        self.lon, self.lat = lon, lat
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def to(self, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
        from pyproj import CRS, Transformer

        wgs84 = CRS.from_epsg(4326)
        if crs.equals(wgs84, ignore_axis_order=True):
            return self.lon, self.lat
        key = crs.to_wkt()
        if key not in self._cache:
            transformer = Transformer.from_crs(wgs84, crs, always_xy=True)
            x, y = transformer.transform(self.lon, self.lat)
            self._cache[key] = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return self._cache[key]


def _household_window(layer: HazardLayer, x: np.ndarray, y: np.ndarray) -> Window | None:
    """Return the raster window holding every household's cell (one cell of margin)."""
    from rasterio.transform import rowcol
    from rasterio.windows import Window

    assert layer.grid is not None
    height, width = layer.grid.shape
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        return None
    xmin, xmax = float(x[finite].min()), float(x[finite].max())
    ymin, ymax = float(y[finite].min()), float(y[finite].max())
    rows, cols = rowcol(layer.grid.transform, [xmin, xmax, xmin, xmax], [ymin, ymin, ymax, ymax])
    row0, row1 = max(min(rows) - 1, 0), min(max(rows) + 2, height)
    col0, col1 = max(min(cols) - 1, 0), min(max(cols) + 2, width)
    if row0 >= row1 or col0 >= col1:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _metres_per_degree(
    lat: np.ndarray, crs: pyproj.CRS
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Metres per degree of longitude and of latitude at ``lat`` on the ellipsoid of ``crs``.

    The local radii of curvature of the ellipsoid: the prime vertical ``N`` (along the
    parallel, times ``cos(lat)``) and the meridian ``M``. A radius turned into degrees with
    them matches the geodesic distance of :class:`pyproj.Geod` to 1e-6 relative at 1 km and
    4e-6 at 5 km, east-west better than 1e-7, at 36° N (the former fixed 111,320 m per degree
    was 0.3% off north-south and 0.1% east-west there). Closed-form numpy: 0.13 s for 1 M
    households against 2.0 s for the two ``Geod.fwd`` calls an exact offset would take
    (measured on the 2-core development machine), so it stays.
    """
    ellipsoid = crs.ellipsoid
    a = ellipsoid.semi_major_metre if ellipsoid is not None else 6_378_137.0
    inv_f = ellipsoid.inverse_flattening if ellipsoid is not None else 298.257223563
    f = 1.0 / inv_f if inv_f else 0.0
    e2 = f * (2.0 - f)
    phi = np.radians(lat)
    w = 1.0 - e2 * np.sin(phi) ** 2
    per_radian_lat = a * (1.0 - e2) / w**1.5
    per_radian_lon = a / np.sqrt(w) * np.maximum(np.cos(phi), 1e-6)
    return np.radians(per_radian_lon), np.radians(per_radian_lat)


def _radius_in_layer_units(
    layer: HazardLayer, radius_m: float | np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Convert a radius in metres to the layer CRS's x and y units.

    In a geographic CRS the radius becomes the half-axes of an ellipse in degrees at each
    household's latitude (see :func:`_metres_per_degree`); in a projected CRS it is divided
    by the unit of the axes.
    """
    if layer.crs.is_geographic:
        per_lon, per_lat = _metres_per_degree(lat, layer.crs)
        return radius_m / per_lon, radius_m / per_lat
    factor = layer.crs.axis_info[0].unit_conversion_factor or 1.0
    return radius_m / factor, radius_m / factor


def _sample_raster(
    layer: HazardLayer,
    x: np.ndarray,
    y: np.ndarray,
    lat: np.ndarray,
    radius_m: Radius,
    reducer: Reducer,
    max_raster_bytes: int,
) -> np.ndarray:
    grid = layer.grid
    assert grid is not None
    dtype = np.result_type(grid.dtype, np.float32)
    out = np.full(len(x), np.nan, dtype=dtype)
    window = _household_window(layer, x, y)
    if window is None or len(x) == 0:
        return out
    nbytes = int(window.height) * int(window.width) * grid.dtype.itemsize
    if radius_m is not None and _has_radius(radius_m):
        # The radius needs neighbouring cells: read the households' window with a margin.
        rx, ry = _radius_in_layer_units(layer, radius_m, lat)
        grown = _grow(window, grid.shape, grid.res, rx, ry)
        return sample_within_radius(
            x,
            y,
            grid.read(grown),
            grid.transform,
            grid.nodata,
            rx,
            ry,
            reducer,
            row_off=int(grown.row_off),
            col_off=int(grown.col_off),
        ).astype(dtype, copy=False)
    # One window when it fits in memory, else full-width row strips streamed into ``out``.
    pieces = [(window, grid.read(window))] if nbytes <= max_raster_bytes else grid.strips()
    for piece, values in pieces:
        sample_nearest(
            x,
            y,
            values,
            grid.transform,
            grid.nodata,
            row_off=int(piece.row_off),
            col_off=int(piece.col_off),
            out=out,
        )
    return out


def _grow(
    window: Window,
    shape: tuple[int, int],
    res: tuple[float, float],
    rx: np.ndarray | float,
    ry: np.ndarray | float,
) -> Window:
    from rasterio.windows import Window

    extra_cols = int(np.ceil(float(np.max(rx)) / abs(res[0]))) + 1
    extra_rows = int(np.ceil(float(np.max(ry)) / abs(res[1]))) + 1
    col0 = max(int(window.col_off) - extra_cols, 0)
    row0 = max(int(window.row_off) - extra_rows, 0)
    col1 = min(int(window.col_off + window.width) + extra_cols, shape[1])
    row1 = min(int(window.row_off + window.height) + extra_rows, shape[0])
    return Window(col0, row0, col1 - col0, row1 - row0)


def _sample_vector(layer: HazardLayer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Value of the footprint polygon each household falls in; the highest value wins.

    The index is built on the polygon parts of the features as they are (a repaired feature is
    a collection of parts that may overlap, never unioned): a point in any part of a feature
    is in the feature, and each part carries its feature's value, so the result is the one of
    the features; points on an edge are settled against one prepared polygon, not a whole
    collection.
    """
    import shapely

    assert layer.vector is not None
    values = layer.vector["value"].to_numpy(dtype=np.float64)
    parts, owner = shapely.get_parts(layer.vector.geometry.to_numpy(), return_index=True)
    index = build_polygon_index(parts, priority=values[owner])
    hit = locate(x, y, index)
    out = np.full(len(x), np.nan, dtype=np.float64)
    inside = hit >= 0
    out[inside] = values[owner[hit[inside]]]
    return out


def sample_hazard(
    layer: HazardLayer,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    radius_m: Radius = None,
    reducer: Reducer = "max",
    max_raster_bytes: int = MAX_RASTER_BYTES,
    _projector: _Projector | None = None,
) -> HazardExposure:
    """Sample one hazard layer at household locations.

    Parameters
    ----------
    layer
        A validated hazard layer (raster or vector), in its native CRS.
    lon, lat
        Household coordinates, WGS 84.
    radius_m
        If given, take the maximum (or mean) of the cells within this radius of each household
        instead of the cell it lies in (registry locations are often a village centre): one
        radius in metres, or one per household (0: the cell it lies in). Vector layers ignore
        it (a household takes the footprint polygon it lies in).
    reducer
        ``max`` or ``mean`` for ``radius_m``.
    max_raster_bytes
        Rasters larger than this (over the households' window) are streamed in row strips.

    Returns
    -------
    HazardExposure
        Intensity in the layer's own floating dtype (NaN: no data or outside), class codes.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> samples = repo_root() / "data" / "samples"
    >>> import numpy as np
    >>> from rahat.geo.hazards import read_hazard
    >>> layer = read_hazard(samples / "flood_depth_sample.tif", kind="flood_depth")
    >>> lon, lat = np.array([67.64, 67.6, 80.0]), np.array([26.93, 26.97, 30.0])
    >>> sampled = sample_hazard(layer, lon, lat)  # degrees; the layer is in UTM 42N
    >>> np.round(sampled.intensity.astype(float), 2).tolist(), sampled.hazard_class.tolist()
    ([2.98, 0.3, nan], [3, 1, -1])
    """
    projector = _projector or _Projector(lon, lat)
    x, y = projector.to(layer.crs)
    if layer.grid is not None:
        intensity = _sample_raster(layer, x, y, lat, radius_m, reducer, max_raster_bytes)
    else:
        intensity = _sample_vector(layer, x, y)
    return HazardExposure(
        name=layer.name,
        kind=str(layer.kind.value),
        units=layer.units,
        intensity=intensity,
        hazard_class=layer.classes.classify(intensity),
        class_labels=tuple(layer.classes.labels),
        sha256=layer.provenance.sha256,
    )


def assign_zones(
    layer: ZoneLayer, lon: np.ndarray, lat: np.ndarray, *, _projector: _Projector | None = None
) -> ZoneExposure:
    """Assign households to the polygons of a zone layer (-1 where in none)."""
    projector = _projector or _Projector(lon, lat)
    x, y = projector.to(layer.crs)
    codes = locate(x, y, layer.index).astype(np.int32, copy=False)
    return ZoneExposure(name=layer.name, codes=codes, table=layer.table)


def overlay(
    registry: Registry,
    hazards: Sequence[HazardLayer] = (),
    zones: Sequence[ZoneLayer] = (),
    *,
    radius_m: Radius = None,
    reducer: Reducer = "max",
    max_raster_bytes: int = MAX_RASTER_BYTES,
    sampling: Mapping[str, tuple[Radius, Reducer]] | None = None,
) -> Exposure:
    """Join every household to every hazard layer and zone layer.

    Parameters
    ----------
    registry
        Households (ideally in spatial order, see :func:`spatially_sorted`).
    hazards
        Hazard layers; their names must be distinct.
    zones
        Zone layers (see :mod:`rahat.engine.zones`); names must be distinct.
    radius_m, reducer
        Location uncertainty for raster hazards, see :func:`sample_hazard`.
    sampling
        Per layer name, ``(radius_m, reducer)`` replacing ``radius_m`` and ``reducer`` for that
        layer (a scenario's per-layer ``radius_m``/``reducer``, see
        :func:`rahat.engine.exposure_cache.layer_sampling`).
    max_raster_bytes
        Streaming threshold for large rasters.

    Returns
    -------
    Exposure
        Arrays aligned with ``registry``.

    Examples
    --------
    >>> from rahat.geo.paths import repo_root
    >>> samples = repo_root() / "data" / "samples"
    >>> import numpy as np
    >>> from rahat.geo.hazards import read_hazard
    >>> from rahat.geo.registry.model import Registry
    >>> from rahat.geo.registry.validate import read_registry
    >>> households = read_registry(samples / "registry_sample.csv").registry
    >>> lon = np.linspace(67.55, 67.72, len(households))  # moved onto the sample flood
    >>> households = Registry.from_frame(households.frame.assign(lon=lon, lat=26.93))
    >>> depth = read_hazard(samples / "flood_depth_sample.tif", kind="flood_depth", name="depth")
    >>> exposure = overlay(households, [depth])
    >>> np.bincount(exposure.hazards["depth"].hazard_class + 1).tolist()  # no data, dry .. high
    [4, 5, 7, 7, 11]
    """
    for kind, names in (("hazard", [h.name for h in hazards]), ("zone", [z.name for z in zones])):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{kind} layer names must be distinct: {', '.join(duplicated)}")
    lon, lat = registry.lon, registry.lat
    projector = _Projector(lon, lat)
    sampled = {
        layer.name: sample_hazard(
            layer,
            lon,
            lat,
            radius_m=(sampling or {}).get(layer.name, (radius_m, reducer))[0],
            reducer=(sampling or {}).get(layer.name, (radius_m, reducer))[1],
            max_raster_bytes=max_raster_bytes,
            _projector=projector,
        )
        for layer in hazards
    }
    assigned = {layer.name: assign_zones(layer, lon, lat, _projector=projector) for layer in zones}
    return Exposure(registry=registry, hazards=sampled, zones=assigned)


def spatially_sorted(registry: Registry) -> Registry:
    """Return the registry in Hilbert-curve order, so joins touch memory in order.

    Done once when a registry is loaded for overlays; the order is deterministic (stable sort
    of Hilbert keys over the extent of the households, then input order): the order of
    :func:`rahat.geo.registry.order.spatial_order`, in which snapshots are stored.
    """
    if len(registry) == 0:
        return registry
    order = spatial_order(registry.lon, registry.lat)
    if np.array_equal(order, np.arange(len(order))):
        return registry
    return registry.take(order)


def district_mismatches(exposure: Exposure, zone: str = "district") -> pd.DataFrame:
    """List households whose recorded district differs from the district at their location.

    Parameters
    ----------
    exposure
        An overlay result with a ``district`` zone layer (or ``zone``).
    zone
        Name of the zone layer to compare with the registry's ``district`` column.

    Returns
    -------
    pandas.DataFrame
        One row per mismatch: ``household_id``, ``recorded_district``, ``located_district``
        (``None`` when the location is outside every district).
    """
    differs = _located_elsewhere(exposure, zone)
    rows = np.flatnonzero(differs)
    located = exposure.zones[zone].labels()[rows]
    recorded = exposure.registry.frame["district"].take(rows).astype(object).to_numpy()
    return pd.DataFrame(
        {
            "household_id": exposure.registry.household_id[rows],
            "recorded_district": recorded,
            "located_district": located,
        }
    )


def count_located_elsewhere(exposure: Exposure, zone: str = "district") -> int:
    """Number of rows :func:`district_mismatches` lists, without building them."""
    return int(np.count_nonzero(_located_elsewhere(exposure, zone)))


def _located_elsewhere(exposure: Exposure, zone: str) -> np.ndarray:
    """Per household: the recorded district differs from the district at its location.

    Compared by name through integer ids (one lookup per distinct name, not one string
    comparison per household). A household outside every zone differs from any recorded name;
    a recorded name no zone has differs from every location.
    """
    assignment = exposure.zones[zone]
    column = exposure.registry.frame["district"]
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    zone_names = assignment.table["name"].to_numpy(object)
    name_id = {name: i for i, name in enumerate(dict.fromkeys(zone_names))}
    # located: zone row -> name id, outside every zone (-1) -> -1
    located = np.append(np.array([name_id[n] for n in zone_names], dtype=np.int64), -1)
    located_id = located[assignment.codes]
    # recorded: category code -> name id, a name no zone has (or no name) -> -2, never equal
    recorded = np.array([name_id.get(c, -2) for c in column.cat.categories] + [-2], np.int64)
    return recorded[column.cat.codes.to_numpy()] != located_id
