"""A what-if sweep on a Dask cluster: the grid's points evaluated on the workers, table unchanged.

Every grid point is one :func:`~rahat.engine.targeting.evaluate.evaluate` of a variant of the
scenario on the same exposure, so the points can be evaluated anywhere and their rows put back
in the grid's order: the table is the one :func:`rahat.engine.targeting.sweep.sweep` makes, row
for row and dtype for dtype (``tests/engine/test_distributed_sweep.py``).

* The exposure (and the coverage-gap table) is put on the cluster once
  (:func:`~rahat.engine.distributed.tasks.send_once`) and fetched by each worker that needs it;
  a task receives only the scenario and its points' updates.
* The grid is cut into runs of consecutive points,
  :data:`~rahat.engine.distributed.tasks.PARTS_PER_WORKER` a worker, so that a slow or lost
  worker holds up less of the grid. A task evaluates its run in one process, on the worker's one
  copy of the exposure: points that share a priority share its ranking.
* A task whose worker dies is run again on another (by the scheduler). A point whose scenario is
  invalid fails the sweep with the error one machine raises, that of the first such point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rahat.engine.distributed.cluster import gather_results
from rahat.engine.distributed.tasks import (
    PARTS_PER_WORKER,
    RETRIES,
    catching,
    even_runs,
    results,
    send_once,
    workers_of,
)
from rahat.engine.exposure import Exposure
from rahat.engine.targeting.gap_join import GapTable
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.sweep import (
    SweepResult,
    grid_points,
    point_rows,
    sweep_result,
)


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
    workers = workers_of(client)
    shared = [send_once(client, exposure), send_once(client, gap)]
    futures = [
        client.submit(
            catching,
            point_rows,
            scenario,
            shared[0],
            names,
            points[start:stop],
            gap=shared[1],
            grid_size=len(points),
            pure=False,
            retries=RETRIES,
        )
        for start, stop in even_runs(len(points), workers * PARTS_PER_WORKER)
    ]
    runs = results(gather_results(client, futures, "the sweep"))
    return sweep_result(scenario, names, [row for run in runs for row in run])
