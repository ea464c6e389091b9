"""``rahat bench e2e``: the whole ``rahat run`` path against the analyst's pipeline.

What a user waits for is the command, from process start to files on disk, not the kernel.
This benchmark runs the real ``rahat run`` command (a child process) on a national registry of
``n`` households (:mod:`rahat.benchmarks.e2e_data`, GeoParquet) for two scenarios:

- **raster**: the national synthetic flood-depth GeoTIFF of ``rahat bench overlay``, eligible
  at depth >= 0.3 m and PMT <= 32;
- **vector**: a complex, invalid satellite-like flood extent
  (:func:`rahat.geo.hazards.synthetic_footprint.write_complex_footprint`: ~7,000 parts,
  bow-ties, holes, overlaps) as a zipped Shapefile, eligible inside it and PMT <= 32;

each **cold** (an empty cache folder: nothing imported, prepared or overlaid before), **cold
exposure** (the snapshot and prepared hazards stored, the overlay not) and **warm** (the same
cache folder again), then ``rahat whatif`` with one override on the warm cache; it reads the
time of each phase from the commands' ``--json`` payload (``phases``: seconds by stage,
measured inside the process).

Both scenarios rank by poverty only and pay Rs 25,000 per household from a budget that ends
exactly between two PMT values (all eligible households at PMT <= 20 fit, none above), so the
selected households do not depend on how ties are broken, and the **reference** (what an
analyst writes with the standard tools, timed in this process) must select the same ones:
``geopandas.read_parquet``; the raster opened with rioxarray and sampled with rasterio's
``rowcol`` (:func:`_reference_depth`), or ``make_valid`` of each part
(``method="structure"``), ``union_all`` and prepared ``shapely.intersects_xy``;
pandas filter, sort and budget cut; ``to_csv`` of the caseload. ``identical`` compares the two
sets of selected household ids.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Benefit per household (rupees) in both scenarios.
AMOUNT = 25_000
#: PMT at which the budget ends: every eligible household at or below it is selected.
BUDGET_PMT = np.float32(20.0)
#: Eligibility of both scenarios.
MIN_DEPTH = np.float32(0.3)
PMT_CUTOFF = np.float32(32.0)
#: The one override of ``rahat whatif`` in the benchmark (on the warm cache).
WHATIF_OVERRIDE = "eligibility.pmt_cutoff=30"


@dataclass
class ScenarioFigures:
    """Figures of one scenario: seconds by phase (cold, warm), totals, reference, identity."""

    phases_cold: dict[str, float]
    phases_warm: dict[str, float]
    rahat_cold_s: float
    rahat_warm_s: float
    reference_s: float
    speedup_cold: float
    speedup_warm: float
    identical: bool
    selected: int
    reference_phases: dict[str, float] = field(default_factory=dict)
    phases_cold_exposure: dict[str, float] = field(default_factory=dict)
    rahat_cold_exposure_s: float = 0.0
    speedup_cold_exposure: float = 0.0
    whatif_s: float = 0.0
    phases_whatif: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)


#: Figures of the raster scenario repeated at the top level of the JSON (the issue's keys).
HEADLINE = (
    "phases_cold",
    "phases_warm",
    "rahat_cold_s",
    "rahat_warm_s",
    "reference_s",
    "speedup_cold",
    "speedup_warm",
    "rahat_cold_exposure_s",
    "whatif_s",
)


@dataclass
class E2EResult:
    """Figures of ``rahat bench e2e`` (seconds, MiB), one :class:`ScenarioFigures` a scenario.

    ``peak_rss_mb`` is the largest peak of the ``rahat`` commands (each measured by the command
    itself, per run in each scenario's ``peak_rss_mb``); the reference runs in the benchmark's
    own process (``reference_peak_rss_mb``, inputs of the untimed budget pass included).
    ``identical`` holds when both scenarios select the reference's households.
    """

    households: int
    identical: bool
    peak_rss_mb: float
    reference_peak_rss_mb: float
    raster: ScenarioFigures
    vector: ScenarioFigures
    inputs: dict[str, Any]


def bench_inputs(n: int, folder: Path) -> dict[str, Path]:
    """The registry, raster and footprint (built once per ``n`` in ``folder``)."""
    from rahat.benchmarks.e2e_data import national_registry
    from rahat.benchmarks.overlay import bench_dataset
    from rahat.geo.hazards.synthetic_footprint import write_complex_footprint

    folder.mkdir(parents=True, exist_ok=True)
    registry = folder / f"registry_{n}.parquet"
    if not registry.exists():
        national_registry(registry, n)
    _, raster = bench_dataset(1000)
    footprint = folder / "footprint" / "flood_extent.zip"
    if not footprint.exists():
        footprint = write_complex_footprint(folder / "footprint")["shapefile_zip"]
    return {"registry": registry, "raster": raster, "footprint": footprint}


def scenario_document(kind: str, hazard: Path, budget: int) -> dict[str, Any]:
    """The bench's scenario on the raster (depth) or the vector footprint, with ``budget``."""
    if kind == "raster":
        layer = {"name": "depth", "path": str(hazard), "kind": "flood_depth"}
        rule = {"layer": "depth", "min_intensity": float(MIN_DEPTH)}
    else:
        layer = {
            "name": "flood",
            "path": str(hazard),
            "kind": "flood_extent",
            "intensity_field": "flooded",
        }
        rule = {"layer": "flood", "min_class": "flooded"}
    return {
        "name": f"bench_e2e_{kind}",
        "description": "rahat bench e2e",
        "seed": 1,
        "hazards": [layer],
        "eligibility": {"pmt_cutoff": float(PMT_CUTOFF), "hazard": [rule]},
        "priority": {"weights": {"poverty": 1.0}},
        "benefit": {"kind": "fixed", "amount": AMOUNT},
        "budget": {"total": budget},
    }


def _reference(kind: str, paths: dict[str, Path], out_csv: Path) -> tuple[np.ndarray, dict]:
    """The analyst's pipeline; returns the selected household ids and seconds by phase."""
    import geopandas as gpd

    phases: dict[str, float] = {}
    t = time.perf_counter()
    households = gpd.read_parquet(paths["registry"])
    phases["read"] = time.perf_counter() - t
    t = time.perf_counter()
    lon = households["lon"].to_numpy(np.float64)
    lat = households["lat"].to_numpy(np.float64)
    pmt = households["pmt_score"].to_numpy(np.float32)
    poor = pmt <= PMT_CUTOFF
    if kind == "raster":
        depth = _reference_depth(paths["raster"], lon, lat)
        eligible = poor & (depth >= MIN_DEPTH)
    else:
        import shapely

        # the 10-line script of issue 12 (read, make_valid, union_all, intersects_xy), with each
        # part repaired on its own by the repair Rahat documents (method="structure"): make_valid
        # of the whole invalid MultiPolygon, or the default linework method (even-odd), would
        # turn places where flooded rings overlap into dry holes
        footprint = gpd.read_file(paths["footprint"], engine="pyogrio")
        parts = shapely.get_parts(footprint.geometry.to_numpy())
        flooded = shapely.union_all(shapely.make_valid(parts, method="structure"))
        shapely.prepare(flooded)
        eligible = poor.copy()
        eligible[poor] = shapely.intersects_xy(flooded, lon[poor], lat[poor])
    phases["overlay"] = time.perf_counter() - t
    t = time.perf_counter()
    caseload = households.loc[eligible].drop(columns="geometry")
    caseload = caseload.sort_values(["pmt_score", "household_id"], kind="stable")
    caseload["amount"] = AMOUNT
    within = caseload["amount"].cumsum() <= _budget_of(caseload["pmt_score"].to_numpy())
    selected = caseload.loc[within.to_numpy()]
    phases["rank_and_cut"] = time.perf_counter() - t
    t = time.perf_counter()
    selected.to_csv(out_csv, index=False)
    phases["write"] = time.perf_counter() - t
    return np.sort(selected["household_id"].to_numpy(np.int64)), phases


def _reference_depth(raster: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Depth at each household as an analyst writes it: rioxarray, then ``rasterio`` ``rowcol``.

    ``rowcol`` (rasterio's own point-to-cell rule, as ``DatasetReader.index``) rather than
    ``.sel(method="nearest")``: registry coordinates are rounded (4 decimals here), so many
    households lie exactly on a cell edge, where the nearest cell centre is a tie that
    ``.sel`` settles the other way (one household of 10 M in this data set). Points outside the
    grid get NaN.
    """
    import rioxarray
    import xarray as xr
    from rasterio.transform import rowcol

    opened = rioxarray.open_rasterio(raster, masked=True)
    assert isinstance(opened, xr.DataArray)  # a single-band GeoTIFF opens as one DataArray
    band = opened.squeeze("band", drop=True)
    try:
        values = band.to_numpy()
        rows, cols = rowcol(band.rio.transform(), lon, lat)
    finally:
        band.close()
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
    depth = np.full(len(lon), np.nan, dtype=np.float32)
    depth[inside] = values[rows[inside], cols[inside]]
    return depth


def _budget_of(eligible_pmt: np.ndarray) -> int:
    """The budget that pays every eligible household at PMT <= :data:`BUDGET_PMT`, no more."""
    return int(np.count_nonzero(eligible_pmt <= BUDGET_PMT)) * AMOUNT


def eligible_budget(kind: str, paths: dict[str, Path]) -> int:
    """Untimed: the scenario's budget, from Rahat's own overlay of the inputs."""
    import pyarrow.parquet as pq

    from rahat.engine.overlay import sample_hazard
    from rahat.geo.hazards import read_hazard

    table = pq.read_table(paths["registry"], columns=["lon", "lat", "pmt_score"])
    lon = table["lon"].to_numpy()
    lat = table["lat"].to_numpy()
    pmt = table["pmt_score"].to_numpy()
    if kind == "raster":
        layer = read_hazard(paths["raster"], kind="flood_depth", name="depth")
        inside = sample_hazard(layer, lon, lat).intensity >= MIN_DEPTH
    else:
        layer = read_hazard(
            paths["footprint"], kind="flood_extent", name="flood", intensity_field="flooded"
        )
        inside = sample_hazard(layer, lon, lat).intensity > 0.5
    return _budget_of(pmt[inside & (pmt <= PMT_CUTOFF)])


def run_rahat(arguments: list[str], cache: Path) -> tuple[float, dict]:
    """``rahat ARGUMENTS --json`` in a child process: wall seconds and the payload.

    The payload holds ``peak_rss_mb``, the command's own peak resident memory (``VmHWM``;
    ``getrusage`` of the child would include this process's memory at the fork).
    """
    env = {**os.environ, "RAHAT_CACHE_DIR": str(cache), "COLUMNS": "200"}
    rahat = Path(sys.executable).with_name("rahat")  # the console script of this environment
    started = time.perf_counter()
    done = subprocess.run(
        [str(rahat), *arguments, "--json"], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some registry rows rejected
        failed = f"rahat {arguments[0]} failed ({done.returncode})"
        raise RuntimeError(f"{failed}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def _selected_ids(out: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "caseload.parquet", columns=["household_id", "selected"])
    frame = table.to_pandas()
    return np.sort(frame.loc[frame["selected"], "household_id"].to_numpy(np.int64))


def _rounded(phases: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in phases.items()}


def _one(kind: str, paths: dict[str, Path], work: Path) -> ScenarioFigures:
    import yaml

    hazard = paths["raster"] if kind == "raster" else paths["footprint"]
    scenario = work / f"{kind}.yaml"
    document = scenario_document(kind, hazard, eligible_budget(kind, paths))
    scenario.write_text(yaml.safe_dump(document))
    cache = work / f"cache-{kind}"
    runs: dict[str, tuple[float, dict]] = {}
    for label in ("cold", "cold_exposure", "warm"):
        if label == "cold_exposure":  # snapshot and prepared hazards kept, overlay not stored
            shutil.rmtree(cache / "exposures", ignore_errors=True)
        arguments = ["run", str(scenario), "--registry", str(paths["registry"])]
        runs[label] = run_rahat([*arguments, "--out", str(work / f"{kind}-{label}")], cache)
    whatif_s, whatif = run_rahat(
        ["whatif", str(scenario), "--registry", str(paths["registry"]), "--set", WHATIF_OVERRIDE],
        cache,
    )
    cold_s, cold = runs["cold"]
    warm_s, warm = runs["warm"]
    started = time.perf_counter()
    reference_ids, reference_phases = _reference(kind, paths, work / f"{kind}-reference.csv")
    reference_s = time.perf_counter() - started
    ours = _selected_ids(work / f"{kind}-cold")
    identical = bool(
        np.array_equal(ours, reference_ids)
        and all(np.array_equal(_selected_ids(work / f"{kind}-{x}"), ours) for x in runs)
    )
    return ScenarioFigures(
        phases_cold=_rounded(cold.get("phases", {})),
        phases_warm=_rounded(warm.get("phases", {})),
        rahat_cold_s=round(cold_s, 3),
        rahat_warm_s=round(warm_s, 3),
        reference_s=round(reference_s, 3),
        speedup_cold=round(reference_s / cold_s, 2),
        speedup_warm=round(reference_s / warm_s, 2),
        identical=identical,
        selected=len(ours),
        reference_phases=_rounded(reference_phases),
        phases_cold_exposure=_rounded(runs["cold_exposure"][1].get("phases", {})),
        rahat_cold_exposure_s=round(runs["cold_exposure"][0], 3),
        speedup_cold_exposure=round(reference_s / runs["cold_exposure"][0], 2),
        whatif_s=round(whatif_s, 3),
        phases_whatif=_rounded(whatif.get("phases", {})),
        peak_rss_mb={
            **{label: run[1]["peak_rss_mb"] for label, run in runs.items()},
            "whatif": whatif["peak_rss_mb"],
        },
    )


def run_e2e_bench(n: int, *, workdir: Path | None = None) -> E2EResult:
    """Run the end-to-end benchmark on ``n`` households.

    Parameters
    ----------
    n
        Households in the registry.
    workdir
        Scratch folder for scenarios, outputs and the runs' cache folders (default: a temporary
        folder, removed afterwards). The inputs are kept in the cache folder
        (``<cache>/bench/e2e``) and reused.

    Returns
    -------
    E2EResult
    """
    from rahat.benchmarks.common import peak_rss_mb
    from rahat.geo.paths import cache_dir

    paths = bench_inputs(n, cache_dir() / "bench" / "e2e")
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        work = Path(scratch)
        raster = _one("raster", paths, work)
        vector = _one("vector", paths, work)
    children_mb = max(max(s.peak_rss_mb.values()) for s in (raster, vector))
    return E2EResult(
        households=n,
        identical=raster.identical and vector.identical,
        peak_rss_mb=round(children_mb, 1),
        reference_peak_rss_mb=round(peak_rss_mb(), 1),
        raster=raster,
        vector=vector,
        inputs={k: str(v) for k, v in paths.items()},
    )


def as_dict(result: E2EResult) -> dict[str, Any]:
    """The result as plain JSON-ready data, the raster scenario's :data:`HEADLINE` at the top."""
    data = asdict(result)
    headline = {key: data["raster"][key] for key in HEADLINE}
    return {"households": data.pop("households"), **headline, **data}
