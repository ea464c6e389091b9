"""``rahat bench trigger``: a national ensemble forecast evaluated over tehsil-sized areas.

Inputs (built once per size in ``cache_dir() / "bench" / "trigger"``, seed :data:`SEED`):

- ``forecast.nc``: a synthetic daily rain forecast over Pakistan's bounding box
  (:data:`BBOX`) at ``resolution`` degrees, ``members`` ensemble members and ``days`` daily
  steps from :data:`FIRST_DAY`: float32 ``rain (member, time, lat, lon)`` in mm/day, the CRS
  written by rioxarray (CF ``grid_mapping``, EPSG:4326), uncompressed. Each cell is a
  climatology with two storms (:data:`STORMS`: lower Sindh, north-east Punjab) times a smooth
  log-normal anomaly (half shared by the members, half each member's own, drawn on a 1° grid
  and interpolated linearly) times gamma noise of mean 1 per cell.
- ``areas.gpkg``: ``areas`` polygons with a ``code`` field (``A0001`` ...): the Voronoi cells of
  seeds on a jittered grid inside Pakistan, clipped to the country's outline, so each is about
  880,000 km² / ``areas`` (tehsil-sized at 577).
- ``trigger.yaml``: the areas of that file, the forecast as a ``grid`` source, a readiness stage
  (half the members above :data:`THRESHOLD_MM` over 3 days, lead 7..15) and an activation stage
  (the same, lead 1..5), evaluated as of the day before the forecast's first day.

Measured: :func:`rahat.engine.triggers.evaluate.evaluate_trigger` over every area, the whole
of it (reading the area polygons and the NetCDF, area means, conditions), with the files in
the page cache: the first call in a fresh Python process (``cold``: importing xarray,
rioxarray, rasterio and pyogrio included) and the median of ``repeat`` calls in this one
(``warm_median``); then its phases, each timed alone (median): the
areas, the grid read with its area means, the conditions on already read series; and how the
grid read splits (one profiled call). With ``households``: from the activation state to the
caseload, on a trigger over Sindh's tehsils (the bench registry records no tehsil, and the
only tehsil polygons, with P-codes, are Sindh's; the scenario locates households in them,
``admin_units: located``): the activation's scenario restricted to the firing tehsils
(:func:`~rahat.engine.triggers.evaluate.firing_scenario`) run by
:func:`~rahat.engine.pipeline.run_scenario` on the national bench registry of ``households``
(:func:`rahat.benchmarks.e2e.bench_inputs`) with the national flood raster as its hazard,
loading the registry included (as ``rahat trigger evaluate --registry`` does).
"""

from __future__ import annotations

import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from rahat.benchmarks.common import peak_rss_mb, reset_peak_rss, timed

if TYPE_CHECKING:
    import geopandas as gpd

#: Pakistan's bounding box: west, south, east, north (degrees).
BBOX = (60.8, 23.6, 77.9, 37.1)
#: Seed of every draw.
SEED = 16
#: The forecast's first day; trigger is evaluated as of the day before.
FIRST_DAY = "2022-08-20"
#: Storms of the climatology: longitude, latitude, mm/day at the centre, radius (degrees).
STORMS = ((68.3, 26.0, 30.0, 1.3), (74.0, 32.8, 22.0, 1.2))
#: Rain everywhere, mm/day.
BACKGROUND_MM = 2.0
#: Three-day rain both stages compare with, mm.
THRESHOLD_MM = 60.0
#: Spacing of the smooth anomaly's grid, degrees.
ANOMALY_CELL = 1.0


@dataclass(frozen=True)
class TriggerInputs:
    """The generated files of one size and the date they are evaluated at."""

    folder: Path
    forecast: Path
    areas: Path
    trigger: Path
    as_of: str


def grid_axes(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of the forecast grid: longitudes west to east, latitudes north to south."""
    west, south, east, north = BBOX
    lon = np.round(
        west + resolution / 2 + resolution * np.arange(round((east - west) / resolution)), 6
    )
    lat = np.round(
        north - resolution / 2 - resolution * np.arange(round((north - south) / resolution)), 6
    )
    return lon, lat


def _interp_matrix(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """``[len(fine), len(coarse)]`` weights of linear interpolation (``coarse`` ascending)."""
    eye = np.eye(len(coarse))
    return np.stack([np.interp(fine, coarse, eye[j]) for j in range(len(coarse))], axis=1)


def synthetic_rain(members: int, days: int, resolution: float, seed: int = SEED) -> np.ndarray:
    """The forecast's rain, float32 ``[member, day, lat, lon]`` mm/day (module docstring)."""
    lon, lat = grid_axes(resolution)
    x, y = np.meshgrid(lon, lat)
    base = np.full(x.shape, BACKGROUND_MM)
    for x0, y0, peak, radius in STORMS:
        base += peak * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * radius**2))
    west, south, east, north = BBOX
    coarse_x = np.arange(west, east + ANOMALY_CELL, ANOMALY_CELL)
    coarse_y = np.arange(south, north + ANOMALY_CELL, ANOMALY_CELL)
    wy, wx = _interp_matrix(lat, coarse_y), _interp_matrix(lon, coarse_x)
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(days, len(coarse_y), len(coarse_x)))
    rain = np.empty((members, days, len(lat), len(lon)), dtype=np.float32)
    for member in range(members):
        own = rng.normal(size=shared.shape)
        anomaly = np.einsum("yc,dcx,sx->dys", wy, (shared + own) / np.sqrt(2), wx, optimize=True)
        noise = rng.gamma(2.0, 0.5, size=anomaly.shape)
        rain[member] = base * np.exp(0.5 * anomaly - 0.125) * noise
    return rain


def write_forecast(path: Path, members: int, days: int, resolution: float) -> Path:
    """Write :func:`synthetic_rain` as NetCDF with its CRS (atomically); return ``path``."""
    import pandas as pd
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    from rahat.geo.files import atomic_write

    lon, lat = grid_axes(resolution)
    coords = {
        "member": np.arange(members),
        "time": pd.date_range(FIRST_DAY, periods=days),
        "lat": lat,
        "lon": lon,
    }
    rain = synthetic_rain(members, days, resolution)
    dataset = xr.Dataset(
        {"rain": (("member", "time", "lat", "lon"), rain, {"units": "mm/day"})}, coords=coords
    ).rio.write_crs("EPSG:4326")
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp))


def synthetic_areas(n: int, seed: int = SEED) -> gpd.GeoDataFrame:
    """``n`` Voronoi cells of jittered seeds inside Pakistan, clipped to it, coded ``A0001``..."""
    import geopandas as gpd
    import shapely

    from rahat.geo.boundaries import provinces

    country = shapely.union_all(provinces().geometry.to_numpy())
    shapely.prepare(country)
    rng = np.random.default_rng(seed)
    west, south, east, north = country.bounds
    step = float(np.sqrt(country.area / n))
    while True:
        xs = np.arange(west + step / 2, east, step)
        ys = np.arange(south + step / 2, north, step)
        gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
        gx = gx + rng.uniform(-0.35, 0.35, gx.size) * step
        gy = gy + rng.uniform(-0.35, 0.35, gy.size) * step
        inside = shapely.contains_xy(country, gx, gy)
        if inside.sum() >= n:
            break
        step *= 0.95
    picked = np.sort(rng.choice(np.flatnonzero(inside), size=n, replace=False))
    seeds = shapely.points(gx[picked], gy[picked])
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=country, ordered=True)
    )
    polygons = shapely.intersection(cells, country)
    codes = [f"A{i + 1:04d}" for i in range(n)]
    return gpd.GeoDataFrame({"code": codes}, geometry=polygons, crs="EPSG:4326")


def _condition(lead: tuple[int, int]) -> dict[str, Any]:
    return {
        "source": "forecast",
        "reduce": {"accumulate_days": 3},
        "above": {"value": THRESHOLD_MM},
        "probability": 0.5,
        "lead_days": list(lead),
    }


def trigger_spec(areas: dict[str, Any], scenario: Path | None = None) -> dict[str, Any]:
    """The benchmark's trigger over ``areas`` (``scenario``: activation's, if any)."""
    activation: dict[str, Any] = {"when": {"any": [_condition((1, 5))]}}
    if scenario is not None:
        activation["scenario"] = str(scenario)
    return {
        "name": "bench_trigger",
        "version": 1,
        "description": "rahat bench trigger: 3-day rain above a value in half the members",
        "areas": areas,
        "sources": {"forecast": {"kind": "grid", "path": "forecast.nc", "variable": "rain"}},
        "stages": {"readiness": {"when": {"any": [_condition((7, 15))]}}, "activation": activation},
    }


def _as_of() -> str:
    return str(np.datetime64(FIRST_DAY, "D") - np.timedelta64(1, "D"))


def trigger_inputs(areas: int, members: int, days: int, resolution: float) -> TriggerInputs:
    """The benchmark's files of this size, built into the cache on first use."""
    from rahat.geo.files import atomic_write
    from rahat.geo.paths import cache_dir

    folder = cache_dir() / "bench" / "trigger" / f"{areas}a_{members}m_{days}d_{resolution:g}deg"
    folder.mkdir(parents=True, exist_ok=True)
    forecast, polygons, trigger = (
        folder / "forecast.nc",
        folder / "areas.gpkg",
        folder / "trigger.yaml",
    )
    if not forecast.exists():
        write_forecast(forecast, members, days, resolution)
    if not polygons.exists():
        frame = synthetic_areas(areas)
        atomic_write(polygons, lambda tmp: frame.to_file(tmp, driver="GPKG", layer="areas"))
    spec = trigger_spec({"path": polygons.name, "code_field": "code"})  # cheap: always written
    atomic_write(trigger, lambda tmp: tmp.write_text(yaml.safe_dump(spec, sort_keys=False)))
    return TriggerInputs(folder, forecast, polygons, trigger, _as_of())


def _read_through(path: Path) -> None:
    """Read a file once so that it lies in the page cache."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


#: Functions whose cumulative time splits the grid read (profiled once).
_GRID_SPLIT = {
    "open_dataset": "open_s",
    "values": "decode_s",
    "rasterize": "rasterize_s",
    "area_means": "area_means_s",
}


def grid_split(call: Any) -> dict[str, float]:
    """Cumulative seconds of the :data:`_GRID_SPLIT` functions in one profiled ``call()``."""
    profile = cProfile.Profile()
    profile.runcall(call)
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    split = dict.fromkeys(_GRID_SPLIT.values(), 0.0)
    for (filename, _, name), (_, _, _, cumulative, _) in stats.items():
        key = _GRID_SPLIT.get(name)
        if key is not None and (name != "values" or filename.endswith("dataarray.py")):
            split[key] = max(split[key], cumulative)
    return {k: round(v, 3) for k, v in split.items()}


#: A fresh process's first evaluation: prints its seconds (imports of the readers included).
_COLD = """
import sys, time
started = time.perf_counter()
from rahat.engine.triggers.evaluate import evaluate_trigger
from rahat.engine.triggers.files import load_trigger
evaluate_trigger(load_trigger(sys.argv[1]), sys.argv[2])
print(time.perf_counter() - started)
"""


def cold_evaluation_s(inputs: TriggerInputs) -> float:
    """Seconds of the first evaluation in a fresh Python process (files in the page cache)."""
    done = subprocess.run(
        [sys.executable, "-c", _COLD, str(inputs.trigger), inputs.as_of],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(done.stdout.strip().splitlines()[-1])


def measure_evaluation(inputs: TriggerInputs, repeat: int) -> dict[str, Any]:
    """Time the evaluation, cold and warm, and its phases (see the module docstring)."""
    from rahat.engine.triggers.evaluate import evaluate_trigger, load_sources, trigger_areas
    from rahat.engine.triggers.files import load_trigger
    from rahat.engine.triggers.series import read_grid

    for path in (inputs.forecast, inputs.areas):
        _read_through(path)
    cold = cold_evaluation_s(inputs)
    file = load_trigger(inputs.trigger)
    state = evaluate_trigger(file, inputs.as_of)  # imports the readers: not timed
    _, warm = timed(lambda: evaluate_trigger(load_trigger(inputs.trigger), inputs.as_of), repeat)
    units, areas_s = timed(lambda: trigger_areas(file.trigger, file.base_dir), repeat)
    day = np.datetime64(inputs.as_of, "D")

    def grid() -> Any:
        return read_grid(inputs.forecast, "rain", units.codes, units.geometries)

    _, grid_s = timed(grid, repeat)
    series = load_sources(file, units, day)
    _, conditions_s = timed(
        lambda: evaluate_trigger(file, inputs.as_of, areas=units, sources=series), repeat
    )
    return {
        "evaluate_s": {"cold": round(cold, 3), "warm_median": round(warm, 3)},
        "phases": {
            "areas_s": round(areas_s, 3),
            "read_grid_s": round(grid_s, 3),
            "conditions_s": round(conditions_s, 3),
            "read_grid_split": grid_split(grid),
        },
        "fired": fired(state),
        "warnings": state.warnings,
    }


def fired(state: Any) -> dict[str, int]:
    """Areas where each stage fires, counted."""
    return {stage: len(state.firing(stage)) for stage in ("readiness", "activation")}


def _caseload_scenario(raster: Path, households: int) -> dict[str, Any]:
    return {
        "name": "bench_trigger_activation",
        "description": "rahat bench trigger: activation where it fires; flood depth >= 0.3 m",
        "seed": 1,
        "admin_units": "located",
        "hazards": [{"name": "depth", "path": str(raster), "kind": "flood_depth"}],
        "eligibility": {"pmt_cutoff": 32.0, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
        "priority": {"weights": {"severity": 0.4, "poverty": 0.4, "children_under5": 0.2}},
        "benefit": {"kind": "fixed", "amount": 25000},
        "budget": {"total": 25000 * max(1, households // 20)},
    }


def _activation_run(file: Any, state: Any, registry_path: Path, out: Path) -> dict[str, Any]:
    """Load the registry, restrict activation's scenario to the firing areas, run it; time it."""
    from rahat.engine.pipeline import load_registry, run_scenario
    from rahat.engine.triggers.evaluate import firing_scenario

    started = time.perf_counter()
    registry = load_registry(registry_path, snapshots=True)
    loaded = time.perf_counter()
    restricted = firing_scenario(file, state, "activation")
    if restricted is None:
        raise RuntimeError("activation fires in no Sindh tehsil: nothing to run")
    result = run_scenario(
        restricted, registry=registry, out_dir=out, manifest_extra={"trigger": state.as_json()}
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "registry_s": round(loaded - started, 3),
        "run_phases": {k: round(v, 3) for k, v in result.phases.items()},
        "selected": int(result.caseload.totals["selected"]),
    }


def measure_caseload(inputs: TriggerInputs, households: int) -> dict[str, Any]:
    """From the activation state over Sindh's tehsils to the caseload (module docstring).

    Run twice: the first run in the process (``activation_to_caseload_s``), then again
    (``activation_to_caseload_repeat_s``: the registry and overlay already at hand).
    """
    from rahat.benchmarks.e2e import bench_inputs
    from rahat.engine.triggers.evaluate import evaluate_trigger
    from rahat.engine.triggers.files import load_trigger
    from rahat.geo.paths import cache_dir

    paths = bench_inputs(households, cache_dir() / "bench" / "e2e")
    scenario = inputs.folder / "activation_scenario.yaml"
    scenario.write_text(yaml.safe_dump(_caseload_scenario(paths["raster"], households)))
    trigger = inputs.folder / "trigger_sindh.yaml"
    spec = trigger_spec({"level": "tehsil"}, scenario)
    trigger.write_text(yaml.safe_dump(spec, sort_keys=False))
    file = load_trigger(trigger)
    state = evaluate_trigger(file, inputs.as_of)
    reset_peak_rss()
    with tempfile.TemporaryDirectory(prefix="rahat-bench-trigger-") as work:
        first = _activation_run(file, state, paths["registry"], Path(work) / "first")
        peak = peak_rss_mb()
        again = _activation_run(file, state, paths["registry"], Path(work) / "again")
    return {
        "activation_to_caseload_s": first["seconds"],
        "activation_to_caseload_repeat_s": again["seconds"],
        "caseload_phases": {k: v for k, v in first.items() if k not in ("seconds", "selected")},
        "caseload_areas": {"level": "tehsil (Sindh, P-codes)", "evaluated": len(state.areas.codes)},
        "fired_sindh": fired(state),
        "selected": first["selected"],
        "caseload_peak_rss_mb": round(peak, 1),
        "firing_tehsils": state.firing("activation"),
    }


def run_trigger_bench(
    areas: int = 577,
    members: int = 51,
    days: int = 15,
    resolution: float = 0.05,
    *,
    households: int | None = None,
    repeat: int = 5,
) -> dict[str, Any]:
    """Build (once) and measure the trigger benchmark; return its figures.

    Parameters
    ----------
    areas, members, days, resolution
        Size of the inputs (:func:`trigger_inputs`).
    households
        Also time activation to caseload on a national registry of this many households.
    repeat
        Repetitions of each warm measure (median).

    Returns
    -------
    dict
        ``areas``, ``members``, ``days``, ``resolution``, ``grid`` (cells), ``evaluate_s``
        (``cold``, ``warm_median``), ``phases``, ``fired`` (``readiness``, ``activation``),
        ``peak_rss_mb``, ``inputs`` (paths, as-of date) and, with ``households``,
        ``activation_to_caseload_s``, ``households``, ``selected``, ``caseload_phases``.
    """
    started = time.perf_counter()
    inputs = trigger_inputs(areas, members, days, resolution)
    build_s = time.perf_counter() - started
    lon, lat = grid_axes(resolution)
    reset_peak_rss()
    figures: dict[str, Any] = {
        "areas": areas,
        "members": members,
        "days": days,
        "resolution": resolution,
        "grid": {"lon": len(lon), "lat": len(lat), "bytes": inputs.forecast.stat().st_size},
        **measure_evaluation(inputs, repeat),
        "evaluate_peak_rss_mb": round(peak_rss_mb(), 1),
        "inputs_s": round(build_s, 3),
        "inputs": {
            "forecast": str(inputs.forecast),
            "areas": str(inputs.areas),
            "trigger": str(inputs.trigger),
            "as_of": inputs.as_of,
        },
        "households": households,
        "activation_to_caseload_s": None,
    }
    if households is not None:
        figures.update(measure_caseload(inputs, households))
    figures["peak_rss_mb"] = max(
        figures["evaluate_peak_rss_mb"], figures.get("caseload_peak_rss_mb", 0.0)
    )
    return figures
