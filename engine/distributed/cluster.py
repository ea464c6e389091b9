"""Connecting to a Dask cluster: a local one of worker processes, or a running scheduler.

A cluster is named by a *spec*:

``local:N``
    A ``distributed.LocalCluster`` of ``N`` worker processes (one thread each, so that the
    kernels' own threads are not oversubscribed), started for the command and closed after it.
``tcp://host:port``
    A running scheduler (``dask scheduler`` and ``dask worker`` on other machines); the workers
    need Rahat installed and the hazard files where they can read them.

:data:`SCHEDULER_ENV` gives the spec when the command line does not.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rahat.geo.errors import InputError

#: Environment variable naming the cluster when ``--cluster`` is not given.
SCHEDULER_ENV = "RAHAT_DASK_SCHEDULER"
#: Most worker processes of a local cluster.
MAX_LOCAL_WORKERS = 64
#: Seconds to wait for a running scheduler.
CONNECT_TIMEOUT_S = 10
#: Level of Dask's own log messages, in this process and a local cluster's workers: the command
#: prints its own one-line errors, and Dask logs tracebacks at ERROR for a scheduler lost (the
#: client's reconnection) or closed first at shutdown (a worker's last heartbeat).
DASK_LOG_LEVEL = logging.CRITICAL

_LOCAL = re.compile(r"^local:(\d+)$")
_REMOTE = re.compile(r"^(tcp|tls)://[^\s/]+:\d+/?$")


#: Dask settings of the local clusters Rahat starts: no stack sampling in the workers (it feeds
#: the dashboard, which is off) and slower housekeeping ticks, so that idle workers cost about
#: 1 % of a core rather than 4 %.
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


@contextmanager
def quiet_workers() -> Iterator[None]:
    """:data:`QUIET_WORKERS` for the local clusters started meanwhile (their workers keep it)."""
    import dask

    with dask.config.set(QUIET_WORKERS):
        yield


def cluster_spec(given: str | None) -> str | None:
    """The cluster to use: ``given``, else :data:`SCHEDULER_ENV`, else ``None`` (one machine).

    Raises
    ------
    InputError
        If the spec is neither ``local:N`` (1 to :data:`MAX_LOCAL_WORKERS`) nor a scheduler
        address ``tcp://host:port``.
    """
    spec = (given or os.environ.get(SCHEDULER_ENV, "")).strip()
    if not spec:
        return None
    local = _LOCAL.match(spec)
    if local and 1 <= int(local.group(1)) <= MAX_LOCAL_WORKERS:
        return spec
    if _REMOTE.match(spec):
        return spec
    raise InputError(
        f"--cluster must be local:N (1 to {MAX_LOCAL_WORKERS} worker processes) or a scheduler "
        f"address tcp://host:8786 (also from {SCHEDULER_ENV})"
    )


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of ``workers`` processes of one thread, quiet, closed after.

    One thread each, so that the kernels' own threads are not oversubscribed; no dashboard;
    :data:`QUIET_WORKERS`; Dask's logs at :data:`DASK_LOG_LEVEL`.
    """
    from distributed import LocalCluster

    with (
        quiet_workers(),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=DASK_LOG_LEVEL,
        ) as cluster,
    ):
        yield cluster


@contextmanager
def cluster_client(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` on the cluster ``spec`` (:func:`cluster_spec`), closed after.

    Raises
    ------
    InputError
        If Dask is not installed (``pip install rahat[dask]``) or the scheduler cannot be
        reached.
    """
    try:
        from distributed import Client
        from distributed.utils import silence_logging_cmgr
    except ImportError:
        raise InputError(
            "a cluster needs Dask: pip install 'rahat[dask]' (on every worker too)"
        ) from None
    local = _LOCAL.match(spec)
    if local:
        with local_cluster(int(local.group(1))) as cluster, Client(cluster) as client:
            yield client
        return
    with silence_logging_cmgr(DASK_LOG_LEVEL):
        try:
            client = Client(spec, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {spec} ({type(exc).__name__}); start one "
                "with `dask scheduler` or give --cluster local:N"
            ) from None
        with client:
            yield client


def gather_results(client: Any, futures: list[Any], stage: str) -> list[Any]:
    """The results of ``futures`` in order, or a clear error naming ``stage`` if the cluster fails.

    Parameters
    ----------
    client
        The ``distributed.Client`` the futures were submitted with.
    futures
        Tasks submitted to the cluster (a task whose worker dies is run again elsewhere by
        the scheduler).
    stage
        What the tasks compute, for the message (``the overlay``, ``the sweep``).

    Raises
    ------
    InputError
        If a task killed worker after worker (out of memory?), or the scheduler went away; in
        both cases the command has written nothing yet.
    """
    from distributed import CancelledError, KilledWorker

    try:
        return list(client.gather(futures))
    except KilledWorker:
        raise InputError(
            f"a task of {stage} killed Dask workers one after another (out of memory?); "
            "nothing was written: give the workers more memory, or more workers"
        ) from None
    except (OSError, CancelledError) as exc:
        # the scheduler lost: the client cancels every task it holds (CancelledError, with
        # Dask's reason: scheduler-connection-lost), or a message fails (CommClosedError)
        why = getattr(exc, "reason", None) or type(exc).__name__
        raise InputError(
            f"the Dask cluster failed during {stage} ({why}); nothing was written: check the "
            "scheduler and run again"
        ) from None


@contextmanager
def optional_client(spec: str | None) -> Iterator[Any]:
    """:func:`cluster_client` of ``spec``, or ``None`` (this process) when there is no spec."""
    if spec is None:
        yield None
        return
    with cluster_client(spec) as client:
        yield client


def _own_peak_rss_mb() -> float:
    """Peak resident memory of this process, MiB (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_rss_mb(client: Any) -> dict[str, float]:
    """Peak resident memory of each worker process of ``client``'s cluster, MiB.

    Empty when the cluster can no longer be asked (its scheduler gone after the run's files were
    written: the run stands).
    """
    from distributed import CancelledError

    try:
        peaks = client.run(_own_peak_rss_mb)
    except (OSError, CancelledError):
        return {}
    return {str(address): round(float(mb), 1) for address, mb in peaks.items()}
