"""What every distributed stage shares: its workers, its runs of items, its tasks' own errors.

* :func:`workers_of`: a cluster's workers, or a clear error when it has none or is gone;
* :func:`send_once`: a value (the layers, an exposure, a season's series) put on the cluster
  once, as the result of a task, so that Dask can compute it again if every copy of it is lost
  with its workers (data scattered with ``Client.scatter`` cannot be: a worker killed at the
  wrong time would then fail the run);
* :func:`even_runs`: ``count`` items cut into runs of consecutive items for the tasks (the
  grid's points of a sweep, the days of a backtest, the rows of a registry not in canonical
  order);
* :func:`catching` and :func:`results`: a task whose input is wrong (a scenario point, a day
  outside the series) returns its error rather than raising it, since it would fail the same
  on every try (``retries`` are for workers that die); the caller raises the first run's error,
  the one a single machine meets first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from rahat.geo.errors import InputError, RahatError

T = TypeVar("T")

#: Partitions (or runs) per worker: a few, so that a slow or lost worker holds up less.
PARTS_PER_WORKER = 4
#: Times a task that raises (not an input's error: :func:`catching`) is run again. A task lost
#: with its worker is run again by the scheduler itself, up to its
#: ``distributed.scheduler.allowed-failures`` times (3 by default), then the run fails.
RETRIES = 3


def workers_of(client: Any) -> int:
    """The number of ``client``'s workers.

    Raises
    ------
    InputError
        If the cluster has none.
    """
    from distributed import CancelledError

    try:
        workers = len(client.nthreads())  # asks the scheduler (its cached info may be stale)
    except (OSError, CancelledError) as exc:  # TimeoutError and CommClosedError are OSErrors
        raise InputError(
            f"the Dask scheduler cannot be reached ({type(exc).__name__}); nothing was "
            "written: check the scheduler and run again"
        ) from None
    if workers == 0:
        raise InputError("the Dask cluster has no worker: start `dask worker` processes")
    return workers


def _itself(value: T) -> T:
    return value


def send_once(client: Any, value: T) -> Any:
    """``value`` on ``client``'s cluster, as the result of a task (a ``distributed.Future``).

    Sent once with its task; each worker that needs it fetches it from another; computed again
    from its task (which the scheduler keeps, with the value) if every copy is lost.
    """
    with warnings.catch_warnings():  # a layer or an exposure is meant to be large
        warnings.filterwarnings("ignore", message=".*[Ll]arge (graph|object)", category=UserWarning)
        return client.submit(_itself, value, pure=False)


def even_runs(count: int, parts: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of at most ``parts`` runs of consecutive items covering ``count`` items.

    The runs are in order, none is empty, and their lengths differ by one at most; there are
    fewer than ``parts`` when there are fewer items.
    """
    edges = np.unique(np.linspace(0, count, max(min(parts, count), 1) + 1).astype(np.int64))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def catching(
    func: Callable[..., T], *args: Any, **kwargs: Any
) -> tuple[T | None, RahatError | None]:
    """On a worker: ``(func(*args, **kwargs), None)``, or ``(None, error)`` for an input's error."""
    try:
        return func(*args, **kwargs), None
    except RahatError as exc:
        return None, exc


def results(pairs: Iterable[tuple[T | None, RahatError | None]]) -> list[T]:
    """The results of :func:`catching` tasks in order; the first run's error is raised."""
    out: list[T] = []
    for result, error in pairs:
        if error is not None:
            raise error
        assert result is not None
        out.append(result)
    return out
