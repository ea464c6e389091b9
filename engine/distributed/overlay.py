"""The overlay of a registry on a Dask cluster, partition by partition, equal to one machine's.

The overlay is a function of each household's location alone (:func:`rahat.engine.overlay.
overlay` samples every hazard layer and assigns every zone layer point by point), so the
registry's rows can be cut into runs, overlaid on the workers with the same kernels, and the
results put back end to end: the exposure, and everything evaluated from it, is the one a
single machine computes, byte for byte (``tests/engine/test_distributed.py``).

* The runs are the snapshot's partitions along the Hilbert curve
  (:func:`rahat.geo.registry.partitions.plan_partitions`,
  :data:`~rahat.engine.distributed.tasks.PARTS_PER_WORKER` a worker), so each worker samples
  a compact window of each raster; a registry not in canonical order is cut into equal runs.
* The hazard and zone layers are put on the cluster once (:func:`~rahat.engine.distributed.
  tasks.send_once`: fetched by each worker that needs them, computed again if lost). A
  worker reads its households from the registry's snapshot folder, or receives them with the
  task for any other registry (:mod:`rahat.engine.distributed.parts`), and sends back only the
  sampled arrays; each part's exposure stays on its worker for the ranking
  (:mod:`rahat.engine.distributed.ranking`).
* A task whose worker dies is run again on another (by the scheduler); a scheduler that goes away
  fails the run with a clear error before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rahat.engine.distributed.cluster import gather_results
from rahat.engine.distributed.parts import (
    RowSource,
    WorkerParts,
    joined_exposure,
    part_arrays,
    part_registry,
    row_source,
)
from rahat.engine.distributed.tasks import (
    PARTS_PER_WORKER,
    RETRIES,
    even_runs,
    send_once,
    workers_of,
)
from rahat.engine.exposure import Exposure
from rahat.engine.overlay import Radius, Reducer, overlay
from rahat.engine.zones import ZoneLayer
from rahat.geo.hazards import HazardLayer
from rahat.geo.registry.model import Registry
from rahat.geo.registry.partitions import plan_partitions


def row_runs(registry: Registry, parts: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of at most ``parts`` runs of rows covering ``registry`` in order.

    Along the Hilbert curve for a registry in canonical order, else equal runs of rows.
    """
    try:
        return [(p.start, p.stop) for p in plan_partitions(registry, parts)]
    except ValueError:
        return even_runs(len(registry), parts)


def _overlay_part(
    source: RowSource,
    start: int,
    stop: int,
    hazards: Sequence[HazardLayer],
    zones: Sequence[ZoneLayer],
    sampling: Mapping[str, tuple[Radius, Reducer]],
) -> Exposure:
    """On a worker: the overlay of rows ``start:stop`` (kept there for the ranking)."""
    return overlay(part_registry(source, start, stop), hazards, zones, sampling=sampling)


def _run_sampling(
    sampling: Mapping[str, tuple[Radius, Reducer]], start: int, stop: int
) -> dict[str, tuple[Radius, Reducer]]:
    """The sampling of rows ``start:stop``: a radius per household (GPS accuracy) sliced."""
    return {
        name: (radius[start:stop] if isinstance(radius, np.ndarray) else radius, reducer)
        for name, (radius, reducer) in sampling.items()
    }


def overlay_parts(
    client: Any,
    registry: Registry,
    hazards: Sequence[HazardLayer] = (),
    zones: Sequence[ZoneLayer] = (),
    *,
    sampling: Mapping[str, tuple[Radius, Reducer]] | None = None,
) -> tuple[Exposure, WorkerParts]:
    """:func:`rahat.engine.overlay.overlay` of ``registry`` on ``client``'s workers, and its parts.

    Parameters
    ----------
    client
        A ``distributed.Client`` (:func:`rahat.engine.distributed.cluster.cluster_client`).
    registry, hazards, zones, sampling
        As for :func:`~rahat.engine.overlay.overlay`.

    Returns
    -------
    (Exposure, WorkerParts)
        The exposure, equal to the single-machine overlay array for array, and each run's
        exposure kept on its worker (release them with :meth:`WorkerParts.release`).

    Raises
    ------
    InputError
        If the cluster has no worker, or fails (its scheduler lost).
    """
    from distributed import wait

    workers = workers_of(client)
    if len(registry) == 0:
        return overlay(registry, hazards, zones, sampling=sampling), WorkerParts([], [])
    started = time.perf_counter()
    layers = [send_once(client, list(hazards)), send_once(client, list(zones))]
    wait(layers)  # on the cluster: the scatter phase
    scattered = time.perf_counter()
    runs = row_runs(registry, workers * PARTS_PER_WORKER)
    sources = [
        (row_source(registry, start, stop), _run_sampling(sampling or {}, start, stop))
        for start, stop in runs
    ]
    futures = [
        client.submit(
            _overlay_part,
            source,
            start,
            stop,
            layers[0],
            layers[1],
            run_sampling,
            pure=False,
            retries=RETRIES,
        )
        for (start, stop), (source, run_sampling) in zip(runs, sources, strict=True)
    ]
    arrays = [client.submit(part_arrays, f, pure=False, retries=RETRIES) for f in futures]
    parts = WorkerParts(runs, futures, held=layers)
    try:
        gathered = gather_results(client, arrays, "the overlay")
        exposure = joined_exposure(registry, gathered)
    except BaseException:
        parts.release()
        raise
    import cloudpickle
    from dask.sizeof import sizeof

    # what a worker fetches of the layers: a raster file's path and georeferencing (it reads the
    # window under its households itself), an in-memory raster's cells, the zone polygons
    parts.sent("layers_out", len(cloudpickle.dumps([list(hazards), list(zones)])) * workers)
    parts.sent("rows_out", sum(sizeof(source) for source in sources))
    parts.sent("overlay_back", sum(p.nbytes for p in gathered))
    parts.timed("scatter", scattered - started)
    parts.timed("overlay", time.perf_counter() - scattered)
    return exposure, parts


def distributed_overlay(
    client: Any,
    registry: Registry,
    hazards: Sequence[HazardLayer] = (),
    zones: Sequence[ZoneLayer] = (),
    *,
    sampling: Mapping[str, tuple[Radius, Reducer]] | None = None,
) -> Exposure:
    """:func:`overlay_parts`' exposure alone (the workers drop their parts).

    Raises
    ------
    InputError
        If the cluster has no worker, or fails (its scheduler lost).
    """
    exposure, parts = overlay_parts(client, registry, hazards, zones, sampling=sampling)
    parts.release()
    return exposure
