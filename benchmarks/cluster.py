"""``rahat bench dask``: one machine against a Dask LocalCluster of 1, 2, ... worker processes.

The inputs are ``rahat bench e2e``'s (a national synthetic registry of ``households`` and the
synthetic depth raster, kept in ``<cache>/bench/e2e``), with its raster scenario. Each run is a
``rahat run --json`` child process with the overlay computed afresh (the stored overlays
removed, the snapshot and the prepared raster kept): ``single_s`` on one machine, ``dask_s``
per worker count with ``--cluster local:N`` (starting the cluster included). ``identical`` is
true only if ``caseload.parquet`` and ``summary.csv`` of every cluster run are byte-identical
to the single machine's. ``peak_worker_rss_mb`` is the largest worker's peak per worker count;
``peak_rss_mb`` each command's own. ``phases`` are the commands' own (registry, hazards,
overlay, evaluate, write), with, for a cluster, the seconds of its own phases under ``cluster``:
``scatter`` (the layers put on the cluster), ``overlay`` (the parts, until their arrays are back),
``rank`` (each partition ranked on its worker) and ``merge`` (the reduce of the rankings).
``moved_mb`` is what crossed between this process and the workers, per worker count: the layers
(once to each worker), the rows' sources, the sampled arrays back, the rankings out and back.

``dask_warm_s`` (and ``overhead_warm``) time a run on a cluster already running, whose workers
served one run before (numba loaded, the snapshot mapped): the cost of distributing without the
cluster's start.

On 2 cores the cluster cannot be faster than one process: the figure is the overhead of
distributing (worker start, numba loading in each worker, results moved).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rahat.engine.distributed.cluster import local_cluster

#: Files compared byte for byte.
COMPARED = ("caseload.parquet", "summary.csv")


def identical_outputs(a: Path, b: Path) -> bool:
    """Whether the :data:`COMPARED` files of two run folders are byte-identical."""
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in COMPARED)


def _warm_cluster_run(
    count: int, run: Callable[[str, list[str]], tuple[float, dict[str, Any]]]
) -> float:
    """Seconds of a run on a running cluster of ``count`` workers that has served one run.

    The cluster is started here (``tcp://``), a first run warms its workers (numba loaded, the
    snapshot mapped), and the second, the overlay computed afresh again, is timed.
    """
    with local_cluster(count) as cluster:
        address = ["--cluster", cluster.scheduler_address]
        run(f"warming-{count}", address)
        seconds, _ = run(f"warm-{count}", address)
    return seconds


def run_dask_bench(households: int, workers: list[int]) -> dict[str, Any]:
    """Time the raster scenario on one machine and on LocalClusters of ``workers`` processes."""
    import yaml

    from rahat.benchmarks.e2e import bench_inputs, eligible_budget, run_rahat, scenario_document
    from rahat.geo.paths import cache_dir

    paths = bench_inputs(households, cache_dir() / "bench" / "e2e")
    with tempfile.TemporaryDirectory(prefix="rahat-bench-dask-") as scratch:
        work = Path(scratch)
        scenario = work / "raster.yaml"
        document = scenario_document("raster", paths["raster"], eligible_budget("raster", paths))
        scenario.write_text(yaml.safe_dump(document))
        cache = work / "cache"

        def run(label: str, extra: list[str]) -> tuple[float, dict[str, Any]]:
            shutil.rmtree(cache / "exposures", ignore_errors=True)  # the overlay afresh
            arguments = ["run", str(scenario), "--registry", str(paths["registry"])]
            return run_rahat([*arguments, "--out", str(work / label), *extra], cache)

        run("warm-up", [])  # the snapshot and the prepared raster, not timed
        single_s, single = run("single", [])
        figures: dict[str, Any] = {
            "households": households,
            "single_s": round(single_s, 3),
            "dask_s": {},
            "dask_warm_s": {},
            "identical": True,
            "peak_worker_rss_mb": {},
            "moved_mb": {},
            "peak_rss_mb": {"single": single["peak_rss_mb"]},
            "phases": {"single": single.get("phases", {})},
        }
        for count in workers:
            seconds, payload = run(f"dask-{count}", ["--cluster", f"local:{count}"])
            peaks = payload.get("cluster", {}).get("peak_worker_rss_mb", {})
            figures["dask_s"][str(count)] = round(seconds, 3)
            figures["peak_worker_rss_mb"][str(count)] = max(peaks.values(), default=None)
            figures["peak_rss_mb"][str(count)] = payload["peak_rss_mb"]
            cluster_phases = payload.get("cluster", {}).get("phases", {})
            figures["moved_mb"][str(count)] = payload.get("cluster", {}).get("moved_mb", {})
            figures["phases"][str(count)] = {**payload.get("phases", {}), "cluster": cluster_phases}
            figures["identical"] &= identical_outputs(work / "single", work / f"dask-{count}")
            warm_s = _warm_cluster_run(count, run)
            figures["dask_warm_s"][str(count)] = round(warm_s, 3)
            figures["identical"] &= identical_outputs(work / "single", work / f"warm-{count}")
        figures["overhead"] = {
            count: round(seconds / single_s, 2) for count, seconds in figures["dask_s"].items()
        }
        figures["overhead_warm"] = {
            count: round(seconds / single_s, 2) for count, seconds in figures["dask_warm_s"].items()
        }
    return figures
