"""A trigger's backtest on a Dask cluster, runs of days apart, equal to one machine's replay.

Each as-of day of a replay sees only the series up to its lead window, and fits return periods
only on the days before it (:mod:`rahat.engine.triggers.conditions`), so the season's days can
be cut into contiguous runs, each evaluated on a worker with the same function as on one
machine (:func:`rahat.engine.triggers.backtest.replay_days`), and the runs joined in day order
(:func:`~rahat.engine.triggers.backtest.join_runs`): the firing tables, areas, days, left-out
areas and warnings are those of :func:`~rahat.engine.triggers.backtest.replay`
(``tests/engine/test_distributed_backtest.py``). Useful for long seasons of ensemble forecasts,
whose every day and member is evaluated anew.

* The sources are read once, here, and put on the cluster once
  (:func:`~rahat.engine.distributed.tasks.send_once`); a task receives only its days. The
  workers need no access to the series' files.
* :data:`~rahat.engine.distributed.tasks.PARTS_PER_WORKER` runs a worker, so that a slow or
  lost worker holds up less of the season; a task whose worker dies runs again on another (by
  the scheduler).
* A day whose lead window leaves a source's days fails its run, which returns the error rather
  than raise it (it would be the same on every try); the error raised is the first failing
  run's, which holds the first failing day: the one a single machine names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
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
from rahat.engine.triggers.backtest import Replay, join_runs, read_season, replay_days
from rahat.engine.triggers.files import TriggerFile


def distributed_replay(
    client: Any,
    file: TriggerFile,
    start: str | None = None,
    end: str | None = None,
    sources: Mapping[str, Path] | None = None,
) -> Replay:
    """:func:`rahat.engine.triggers.backtest.replay` computed on ``client``'s workers.

    Parameters
    ----------
    client
        A ``distributed.Client`` (:func:`rahat.engine.distributed.cluster.cluster_client`).
    file, start, end
        As for :func:`~rahat.engine.triggers.backtest.replay`.
    sources
        Source files by name, replacing or supplying the trigger's paths (its ``given``).

    Returns
    -------
    Replay
        Equal to the single-machine replay, field for field.

    Raises
    ------
    InputError
        If the cluster has no worker, or fails (a task that kills its workers, the scheduler
        lost).
    rahat.geo.errors.TriggerError
        As :func:`~rahat.engine.triggers.backtest.replay`.
    """
    workers = workers_of(client)
    found = read_season(file, start, end, sources)
    shared = [send_once(client, value) for value in (found.file, found.areas, found.sources)]
    futures = [
        client.submit(
            catching,
            replay_days,
            shared[0],
            shared[1],
            shared[2],
            found.days[first:stop],
            pure=False,
            retries=RETRIES,
        )
        for first, stop in even_runs(len(found.days), workers * PARTS_PER_WORKER)
    ]
    return join_runs(found, results(gather_results(client, futures, "the backtest")))
