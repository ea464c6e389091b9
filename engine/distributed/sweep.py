"""A what-if sweep on a Dask cluster: the grid's points evaluated on the workers, table unchanged.

Every grid point is one :func:`~rahat.engine.targeting.evaluate.evaluate` of a variant of the
scenario on the same exposure, so the points can be evaluated anywhere and their rows put back
in the grid's order: the table is the one :func:`rahat.engine.targeting.sweep.sweep` makes, row
for row and dtype for dtype (``tests/engine/test_distributed_sweep.py``).

* The exposure (and the coverage-gap table) is sent to every worker once
  (``scatter(broadcast=True)``); a task receives only the scenario and its points' updates.
* The grid is cut into runs of consecutive points,
  :data:`~rahat.engine.distributed.overlay.PARTS_PER_WORKER` a worker, so that a slow or lost
  worker holds up less of the grid. A task evaluates its run in one process, on the worker's one
  copy of the exposure: points that share a priority share its ranking.
* A task whose worker dies is run again on another (``retries``). A point whose scenario is
  invalid fails the sweep with the error one machine raises, that of the first such point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rahat.engine.distributed.cluster import gather_results
from rahat.engine.distributed.overlay import PARTS_PER_WORKER, RETRIES
from rahat.engine.exposure import Exposure
from rahat.engine.targeting.gap_join import GapTable
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.sweep import (
    GridPoint,
    SweepResult,
    grid_points,
    point_rows,
    sweep_result,
)
from rahat.geo.errors import InputError, RahatError


def point_runs(points: int, chunks: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of at most ``chunks`` runs of consecutive points covering ``points``.

    The runs differ in length by one at most; none is empty.
    """
    count = max(1, min(points, chunks))
    size, extra = divmod(points, count)
    stops = [(k + 1) * size + min(k + 1, extra) for k in range(count)]
    return [(stop - size - (k < extra), stop) for k, stop in enumerate(stops) if stop > 0]


def _evaluate_run(
    scenario: Scenario,
    exposure: Exposure,
    gap: GapTable | None,
    names: list[str],
    points: list[GridPoint],
    grid_size: int,
) -> tuple[list[dict[str, Any]], RahatError | None]:
    """On a worker: the rows of a run of points, or the error of its first invalid point.

    An error raised on purpose is returned, not raised: it is the same on every try, so the
    task is not run again (``retries`` are for workers that die).
    """
    try:
        return point_rows(scenario, exposure, names, points, gap=gap, grid_size=grid_size), None
    except RahatError as exc:
        return [], exc


def distributed_sweep(
    client: Any,
    scenario: Scenario,
    exposure: Exposure,
    vary: Mapping[str, Sequence[float]],
    *,
    gap: GapTable | None = None,
) -> SweepResult:
    """:func:`rahat.engine.targeting.sweep.sweep` with the grid's points evaluated on ``client``.

    Parameters
    ----------
    client
        A ``distributed.Client`` (:func:`rahat.engine.distributed.cluster.cluster_client`).
    scenario, exposure, vary, gap
        As for :func:`~rahat.engine.targeting.sweep.sweep`.

    Returns
    -------
    SweepResult
        Equal to the single-machine sweep's, table for table.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        As the single-machine sweep raises it: an unknown parameter before anything is sent,
        else the error of the first grid point whose scenario is invalid.
    InputError
        If the cluster has no worker, or fails (a task killing workers, its scheduler lost).
    """
    names = list(vary)
    points = grid_points(scenario, vary)
    workers = len(client.scheduler_info().get("workers", {}))
    if workers == 0:
        raise InputError("the Dask cluster has no worker: start `dask worker` processes")
    shared = client.scatter([exposure, gap], broadcast=True, hash=False)
    futures = [
        client.submit(
            _evaluate_run,
            scenario,
            shared[0],
            shared[1],
            names,
            points[start:stop],
            len(points),
            pure=False,
            retries=RETRIES,
        )
        for start, stop in point_runs(len(points), workers * PARTS_PER_WORKER)
    ]
    rows: list[dict[str, Any]] = []
    for run_rows, error in gather_results(client, futures, "the sweep"):
        rows.extend(run_rows)
        if error is not None:
            raise error
    return sweep_result(scenario, names, rows)
