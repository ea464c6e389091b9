"""``rahat bench overlay``: Rahat's overlay against the pipeline an analyst would write.

Builds (or reuses, in the cache folder) a synthetic national data set: households clustered
around the 506 real settlements plus a uniform background over Pakistan's extent, a national
flood-depth GeoTIFF of 6800 x 5400 cells (0.0025 degrees, float32, nodata outside the country,
depths rounded to centimetres along river-like bands), the 156 real districts and the real
climate zones. It then times, in the same process:

- **Rahat**: :func:`rahat.engine.overlay.overlay`, every household joined to the raster, the
  districts and the climate zones (JIT warm: one untimed call first);
- **careful reference**: rioxarray ``.sel(method="nearest")`` sampling, filter the
  households the targeting needs (depth >= 0.3 m in float32 and PMT <= 32, as in the shared
  baseline), then ``geopandas.sjoin(predicate="within")`` of only those to the districts and
  zones;
- **naive reference** (optional): ``geopandas.sjoin`` of every household to both polygon layers
  first, then sampling.

and checks that the results are identical: depth for every household; district and zone for
every household the reference joined. (``within`` leaves points exactly on a boundary
unmatched where Rahat, like ``intersects``, assigns them; random coordinates do not land on
boundaries, and the kernel tests cover such points against shapely.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rahat.benchmarks.common import peak_rss_mb, reset_peak_rss, rss_mb, timed

#: Depth (m) at or above which a household counts as affected in the reference pipeline.
AFFECTED_DEPTH = np.float32(0.3)

#: PMT cut-off of the reference pipeline's filter (the BISP 2022 bottom 40%).
AFFECTED_PMT = np.float32(32.0)

_RASTER_BOUNDS = (60.9, 23.6, 77.9, 37.1)
_RASTER_RES = 0.0025


@dataclass
class OverlayBenchResult:
    """Figures of one ``rahat bench overlay`` run (seconds, MiB)."""

    households: int
    rahat_s: float
    reference_s: float
    speedup: float
    identical: bool
    peak_rss_mb: float
    rahat_households_per_s: float
    reference_households_per_s: float
    baseline_rss_mb: float
    input_mb: float
    reference_peak_rss_mb: float
    affected: int
    naive_s: float | None = None
    naive_speedup: float | None = None
    naive_identical: bool | None = None


def _households(n: int, seed: int) -> pd.DataFrame:
    """Synthetic households: 60% around real settlements, 40% uniform over the extent."""
    from rahat.geo.boundaries import settlements

    rng = np.random.default_rng(seed)
    places = settlements()
    weights = np.sqrt(places["population"].to_numpy(np.float64) + 1000.0)
    n_town = int(n * 0.6)
    town = rng.choice(len(places), size=n_town, p=weights / weights.sum())
    spread = rng.uniform(0.03, 0.25, size=n_town)
    lon = np.empty(n)
    lat = np.empty(n)
    lon[:n_town] = places["lon"].to_numpy()[town] + rng.normal(0, 1, n_town) * spread
    lat[:n_town] = places["lat"].to_numpy()[town] + rng.normal(0, 1, n_town) * spread
    minx, miny, maxx, maxy = _RASTER_BOUNDS
    lon[n_town:] = rng.uniform(minx, maxx, n - n_town)
    lat[n_town:] = rng.uniform(miny, maxy, n - n_town)
    order = rng.permutation(n)
    return pd.DataFrame(
        {
            "household_id": np.arange(1, n + 1, dtype=np.int64),
            "lon": lon[order],
            "lat": lat[order],
            "pmt_score": rng.uniform(0, 100, n).astype(np.float32),
        }
    )


def _flood_raster(path: Path) -> Path:
    """Write the national synthetic flood-depth GeoTIFF (deterministic)."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    from rahat.geo.boundaries import provinces
    from rahat.geo.files import atomic_write

    minx, miny, maxx, maxy = _RASTER_BOUNDS
    width = round((maxx - minx) / _RASTER_RES)
    height = round((maxy - miny) / _RASTER_RES)
    transform = from_origin(minx, maxy, _RASTER_RES, _RASTER_RES)
    inside = rasterize(
        ((g, 1) for g in provinces().geometry), out_shape=(height, width), transform=transform
    ).astype(bool)
    lon = minx + (np.arange(width, dtype=np.float32) + 0.5) * _RASTER_RES
    lat = maxy - (np.arange(height, dtype=np.float32) + 0.5) * _RASTER_RES
    depth = np.zeros((height, width), dtype=np.float32)
    # River-like bands: the Indus (a curve in lat) and tributaries, plus ponds.
    for centre_lon, slope, width_deg, peak in (
        (68.3, 0.45, 0.35, 3.0),
        (71.2, 0.30, 0.20, 2.0),
        (72.8, 0.25, 0.15, 1.5),
        (67.6, -0.10, 0.25, 2.5),
    ):
        course = centre_lon + slope * (lat - 28.0) + 0.3 * np.sin(lat * 2.1)
        distance = lon[None, :] - course[:, None]
        depth = np.maximum(depth, peak * np.exp(-((distance / width_deg) ** 2)) - 0.4)
    depth = np.round(np.clip(depth, 0, None), 2).astype(np.float32)
    depth[~inside] = -9999.0
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "width": width,
        "height": height,
        "count": 1,
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(depth, 1)
            dst.update_tags(DESCRIPTION="SYNTHETIC national flood depth for benchmarks (m)")

    atomic_write(path, write)
    return path


def bench_dataset(n: int, seed: int = 42) -> tuple[pd.DataFrame, Path]:
    """Return the benchmark households (cached as Parquet) and the flood raster path."""
    from rahat.geo.paths import cache_dir

    folder = cache_dir() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    raster = folder / "national_flood_depth.tif"
    if not raster.exists():
        _flood_raster(raster)
    households_path = folder / f"households_{n}_{seed}.parquet"
    if households_path.exists():
        households = pd.read_parquet(households_path)
    else:
        households = _households(n, seed)
        households.to_parquet(households_path)
    return households, raster


def _first_match(joined: pd.DataFrame, n: int) -> np.ndarray:
    """Per left row, the lowest matching right row (-1 if none), from an sjoin result."""
    out = np.full(n, -1, dtype=np.int64)
    matched = joined["index_right"].dropna()
    if len(matched):
        best = matched.astype(np.int64).groupby(level=0).min()
        out[best.index.to_numpy()] = best.to_numpy()
    return out


def _reference_sample(raster: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Depth at each household as an analyst writes it: rioxarray + ``.sel(method="nearest")``.

    Points outside the grid get NaN (``.sel`` would snap them to the edge cell).
    """
    import rioxarray
    import xarray as xr

    opened = rioxarray.open_rasterio(raster, masked=True)
    assert isinstance(opened, xr.DataArray)  # a single-band GeoTIFF opens as one DataArray
    band = opened.squeeze("band", drop=True)
    try:
        depth = band.sel(
            x=xr.DataArray(lon, dims="hh"), y=xr.DataArray(lat, dims="hh"), method="nearest"
        ).to_numpy()
        left, bottom, right, top = band.rio.bounds()
    finally:
        band.close()
    outside = (lon < left) | (lon >= right) | (lat <= bottom) | (lat > top)
    return np.where(outside, np.float32(np.nan), depth).astype(np.float32)


def _reference_join(lon: np.ndarray, lat: np.ndarray, layers: list) -> list[np.ndarray]:
    import geopandas as gpd

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    out = []
    for layer in layers:
        polygons = gpd.GeoDataFrame(geometry=layer.geometries, crs=layer.crs)
        joined = gpd.sjoin(points, polygons, how="left", predicate="within")
        out.append(_first_match(joined, len(lon)))
    return out


def run_overlay_bench(n: int, *, seed: int = 42, naive: bool = False) -> OverlayBenchResult:
    """Time Rahat's overlay and the reference pipeline(s) on ``n`` households.

    Parameters
    ----------
    n
        Households.
    seed
        Seed of the synthetic households.
    naive
        Also time the naive reference (``sjoin`` of every household first); slow.

    Returns
    -------
    OverlayBenchResult
    """
    from rahat.engine.overlay import overlay, spatially_sorted
    from rahat.engine.zones import admin_zone_layers, climate_zone_layer
    from rahat.geo.hazards import read_hazard
    from rahat.geo.registry.model import Registry

    households, raster = bench_dataset(n, seed)
    registry = spatially_sorted(Registry.from_frame(households))
    flood = read_hazard(raster, kind="flood_depth", name="depth")
    district, climate = admin_zone_layers(("district",))[0], climate_zone_layer()
    zones = [district, climate]
    overlay(Registry.from_frame(households.head(1000)), [flood], zones)  # JIT and index warm-up

    baseline = rss_mb()
    assert flood.grid is not None
    input_mb = (registry.nbytes() + flood.grid.shape[0] * flood.grid.shape[1] * 4) / 1024**2
    reset_peak_rss()
    exposure, rahat_s = timed(lambda: overlay(registry, [flood], zones), repeat=3)
    rahat_peak = peak_rss_mb()

    lon, lat = registry.lon, registry.lat
    pmt = registry.array("pmt_score")

    def careful() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        depth = _reference_sample(raster, lon, lat)
        affected = np.flatnonzero((depth >= AFFECTED_DEPTH) & (pmt <= AFFECTED_PMT))
        return depth, affected, _reference_join(lon[affected], lat[affected], zones)

    reset_peak_rss()
    (depth, affected, joins), reference_s = timed(careful)
    reference_peak = peak_rss_mb()
    identical = _same(exposure, depth, affected, joins)

    result = OverlayBenchResult(
        households=n,
        rahat_s=round(rahat_s, 4),
        reference_s=round(reference_s, 3),
        speedup=round(reference_s / rahat_s, 1),
        identical=identical,
        peak_rss_mb=round(rahat_peak, 1),
        rahat_households_per_s=round(n / rahat_s),
        reference_households_per_s=round(n / reference_s),
        baseline_rss_mb=round(baseline, 1),
        input_mb=round(input_mb, 1),
        reference_peak_rss_mb=round(reference_peak, 1),
        affected=len(affected),
    )
    if naive:

        def naive_pipeline() -> tuple[np.ndarray, list[np.ndarray]]:
            joins_all = _reference_join(lon, lat, zones)
            return _reference_sample(raster, lon, lat), joins_all

        (depth_all, joins_all), naive_s = timed(naive_pipeline)
        everyone = np.arange(n)
        result.naive_s = round(naive_s, 3)
        result.naive_speedup = round(naive_s / rahat_s, 1)
        result.naive_identical = _same(exposure, depth_all, everyone, joins_all)
    return result


def _same(exposure: object, depth: np.ndarray, rows: np.ndarray, joins: list[np.ndarray]) -> bool:
    from rahat.engine.exposure import Exposure

    assert isinstance(exposure, Exposure)
    ours = exposure.hazards["depth"].intensity
    if not np.array_equal(ours, depth, equal_nan=True):
        return False
    codes = [exposure.zones["district"].codes, exposure.zones["climate"].codes]
    return all(np.array_equal(c[rows], j) for c, j in zip(codes, joins, strict=True))
