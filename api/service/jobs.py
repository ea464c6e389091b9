"""Scenario runs as jobs: a worker pool inside the server process, with state in the database.

A run goes ``queued -> running -> succeeded | failed``. Its outputs are built in a temporary
folder and renamed into place only when complete, so a crash never leaves a partial artifact.
On start-up, runs left ``queued`` or ``running`` by a previous process are marked
``interrupted``; ``POST /runs/{id}/rerun`` queues them again.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service.aggregates import write_aggregates
from rahat.api.service.comparison import store_index
from rahat.api.service.enums import IN_FLIGHT, RunStatus
from rahat.api.service.guard import record_success, save_household_sets
from rahat.api.service.models import Hazard, Run, utcnow
from rahat.api.service.redact import redact_paths
from rahat.api.service.scenarios import with_upload_options
from rahat.api.service.settings import Settings
from rahat.api.service.storage import (
    is_storage_full,
    publish_dir,
    sweep_temporaries,
    temp_dir_for,
)
from rahat.api.service.triggers import files_dir as trigger_files_dir
from rahat.geo.errors import InputError, RunInterruptedError

logger = logging.getLogger("rahat.api.jobs")

STORAGE_FULL_MESSAGE = (
    "The run failed because the server's storage is full; nothing of it was kept. Re-run it "
    "with POST /runs/{id}/rerun once the operators have freed space."
)

INTERRUPTED_MESSAGE = (
    "The server stopped while this run was in flight; nothing of it was kept. "
    "Run it again with POST /runs/{id}/rerun."
)


class ScenarioRunner(Protocol):
    """Executes one scenario; the default is :func:`run_pipeline`."""

    def __call__(
        self,
        scenario: dict[str, Any],
        *,
        registry_path: Path,
        hazard_paths: dict[str, Path],
        out_dir: Path,
        progress: Callable[[str, float], None],
    ) -> dict[str, Any]:
        """Run ``scenario``, write outputs into ``out_dir`` and return the totals."""
        ...


def run_pipeline(
    scenario: dict[str, Any],
    *,
    registry_path: Path,
    hazard_paths: dict[str, Path],
    out_dir: Path,
    progress: Callable[[str, float], None],
    manifest_extra: dict[str, Any] | None = None,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Validate ``scenario`` and run it with :func:`rahat.engine.pipeline.run_scenario`.

    ``manifest_extra`` (the state of the trigger that started the run) is added to the
    manifest. ``cluster`` (``Settings.dask_scheduler``) is the Dask cluster the overlay and
    the ranking run on (:mod:`rahat.engine.distributed`); the caseload is the same.

    Outputs that the pipeline writes outside ``out_dir`` are copied into it. Registry rows
    that fail validation are listed in ``out_dir/rejects.csv`` (kept on the server, never
    served); only their number reaches the API, as ``registry_rejected`` in the totals.

    Returns
    -------
    dict
        The run's totals, JSON-serialisable, with ``registry_rejected`` and
        ``location_mismatches``.
    """
    from rahat.engine.distributed.cluster import optional_client
    from rahat.engine.pipeline import ExposureCache, load_registry, run_scenario
    from rahat.engine.targeting.scenario import load_scenario

    # a snapshot is memory-mapped; a plain file is imported into a cached snapshot once
    registry = load_registry(registry_path, snapshots=True, notify=logger.info)
    with optional_client(cluster) as client:
        result = run_scenario(
            load_scenario(scenario),
            registry=registry,
            hazard_paths=hazard_paths or None,
            out_dir=out_dir,
            progress=progress,
            manifest_extra=manifest_extra,
            cache=ExposureCache(client=client),
        )
    for path in dict(getattr(result, "outputs", {}) or {}).values():
        path = Path(path)
        if path.is_file() and out_dir.resolve() not in path.resolve().parents:
            shutil.copy2(path, out_dir / path.name)
    totals = dict(getattr(result, "totals", {}) or {})
    totals["registry_rejected"] = int(getattr(result, "registry_rejected", 0) or 0)
    return json_safe(totals)


def json_safe(value: Any) -> Any:
    """Round-trip ``value`` through JSON, turning NumPy scalars and paths into plain values."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "item"):
            return obj.item()
        if hasattr(obj, "tolist"):
            return obj.tolist()
        return str(obj)

    return json.loads(json.dumps(value, default=default))


class JobManager:
    """Owns the worker pool and moves runs through their states.

    Parameters
    ----------
    settings
        Service settings (state folders, registry, pool size).
    sessions
        Session factory of the service database.
    runner
        Executes one scenario; defaults to :func:`run_pipeline`.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        runner: ScenarioRunner | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.runner: ScenarioRunner = runner or run_pipeline
        self._stopping = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> list[str]:
        """Recover from a previous process and start the pool.

        Returns
        -------
        list of str
            Ids of the runs marked ``interrupted``.
        """
        interrupted = self.mark_in_flight_interrupted()
        sweep_temporaries(self.settings.runs_dir)
        sweep_temporaries(self.settings.hazards_dir)
        sweep_temporaries(trigger_files_dir(self.settings))
        self.sweep_unrecorded_hazards()
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.workers, thread_name_prefix="rahat-run"
        )
        if interrupted:
            logger.warning(
                "marked %d in-flight run(s) interrupted: %s", len(interrupted), interrupted
            )
        return interrupted

    def stop(self) -> None:
        """Stop taking work, interrupt running jobs at their next progress report, and wait."""
        self._stopping.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.mark_in_flight_interrupted()

    def sweep_unrecorded_hazards(self) -> list[Path]:
        """Remove hazard folders without a record: uploads a previous process never answered.

        Only called at start-up, before any upload is in flight. A folder is an upload's
        (``hazards/<id>/``) and holds a file only once its record is committed, so a folder
        without a record is the debris of an upload killed before its 201.
        """
        root = self.settings.hazards_dir
        if not root.is_dir():
            return []
        with self.sessions() as session:
            known = set(session.scalars(select(Hazard.id)))
        removed = []
        for folder in root.iterdir():
            if folder.is_dir() and not folder.is_symlink() and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        if removed:
            logger.warning("removed %d unrecorded hazard folder(s)", len(removed))
        return removed

    def mark_in_flight_interrupted(self) -> list[str]:
        """Mark every ``queued`` or ``running`` run ``interrupted``; return their ids."""
        with self.sessions() as session, session.begin():
            ids = list(session.scalars(select(Run.id).where(Run.status.in_(IN_FLIGHT))))
            for run_id in ids:
                session.execute(
                    update(Run)
                    .where(Run.id == run_id, Run.status.in_(IN_FLIGHT))
                    .values(
                        status=RunStatus.INTERRUPTED,
                        error=INTERRUPTED_MESSAGE.format(id=run_id),
                        finished_at=utcnow(),
                    )
                )
        return ids

    # -- submitting -------------------------------------------------------------------------
    def submit(self, run_id: str) -> None:
        """Hand a ``queued`` run to the pool."""
        if self._executor is None:
            raise RuntimeError("the job manager is not started")
        with self._lock:
            self._futures[run_id] = self._executor.submit(self._execute, run_id)

    def requeue(self, session: Session, run: Run) -> None:
        """Reset an interrupted or failed run to ``queued`` (caller commits, then submits)."""
        run.status = RunStatus.QUEUED
        run.progress = 0.0
        run.stage = None
        run.error = None
        run.started_at = None
        run.finished_at = None
        run.artifact_dir = None
        run.totals = None

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until the submitted run finishes (for tests and benchmarks)."""
        with self._lock:
            future = self._futures.get(run_id)
        if future is not None:
            future.result(timeout=timeout)

    # -- executing --------------------------------------------------------------------------
    def _set(self, run_id: str, **values: Any) -> None:
        with self.sessions() as session, session.begin():
            session.execute(update(Run).where(Run.id == run_id).values(**values))

    def _progress_callback(self, run_id: str) -> Callable[[str, float], None]:
        last_time = [0.0]
        last_stage: list[str | None] = [None]

        def report(stage: str, fraction: float) -> None:
            if self._stopping.is_set():
                raise RunInterruptedError(run_id)
            now = time.monotonic()
            if stage != last_stage[0] or now - last_time[0] >= 0.5 or fraction >= 1:
                last_time[0], last_stage[0] = now, stage
                self._set(
                    run_id, stage=str(stage)[:200], progress=max(0.0, min(float(fraction), 1.0))
                )

        return report

    def _execute(self, run_id: str) -> None:
        with self.sessions() as session, session.begin():
            run = session.get(Run, run_id)
            if run is None or run.status != RunStatus.QUEUED or self._stopping.is_set():
                return
            run.status, run.started_at, run.progress = RunStatus.RUNNING, utcnow(), 0.0
            run.attempts = (run.attempts or 0) + 1
            scenario, hazard_ids = dict(run.scenario), dict(run.hazards or {})
            # a trigger's state, for a run it started (runners without it get no keyword)
            extra: dict[str, Any] = (
                {"manifest_extra": run.manifest_extra} if run.manifest_extra else {}
            )
            if self.settings.dask_scheduler:  # runners without a cluster get no keyword
                extra["cluster"] = self.settings.dask_scheduler
            records = list(
                session.scalars(select(Hazard).where(Hazard.id.in_(hazard_ids.values())))
            )
            hazards = {h.id: Path(h.path) for h in records}
            # the crs / layer / intensity_field stated at upload (api/service/scenarios.py)
            scenario = with_upload_options(scenario, hazard_ids, {h.id: h.inspect for h in records})
        final_dir = self.settings.runs_dir / run_id
        temp_dir: Path | None = None
        try:
            missing = [hid for hid in hazard_ids.values() if hid not in hazards]
            if missing:
                raise InputError(f"hazard(s) {missing} no longer exist; upload them again")
            temp_dir = temp_dir_for(final_dir)
            totals = self.runner(
                scenario,
                registry_path=self.settings.registry_path,
                hazard_paths={key: hazards[hid] for key, hid in hazard_ids.items()},
                out_dir=temp_dir,
                progress=self._progress_callback(run_id),
                **extra,
            )
            if not (temp_dir / "caseload.parquet").is_file():
                raise RuntimeError("the pipeline wrote no caseload.parquet")
            # figures of every level and the comparison index, so that summaries and
            # comparisons never read the caseload again
            write_aggregates(temp_dir)
            store_index(temp_dir)
            save_household_sets(temp_dir)
            publish_dir(temp_dir, final_dir)
            temp_dir = None
            # compared with recent runs, and marked succeeded with the verdict, under one lock
            record_success(
                self.sessions,
                self.settings,
                run_id,
                final_dir,
                status=RunStatus.SUCCEEDED,
                progress=1.0,
                stage="done",
                artifact_dir=str(final_dir),
                totals=json_safe(totals),
                finished_at=utcnow(),
                error=None,
            )
        except RunInterruptedError:
            self._set(
                run_id,
                status=RunStatus.INTERRUPTED,
                error=INTERRUPTED_MESSAGE.format(id=run_id),
                finished_at=utcnow(),
            )
        except InputError as exc:
            error = redact_paths(str(exc), self.settings)
            self._set(run_id, status=RunStatus.FAILED, error=error, finished_at=utcnow())
        except Exception as exc:
            if is_storage_full(exc):
                logger.error("run %s failed: the storage is full (%s)", run_id, exc)
                try:
                    self._set(
                        run_id,
                        status=RunStatus.FAILED,
                        error=STORAGE_FULL_MESSAGE.format(id=run_id),
                        finished_at=utcnow(),
                    )
                except Exception:  # the database is full too: marked interrupted at restart
                    logger.exception("could not record that run %s failed", run_id)
                return
            logger.exception("run %s failed", run_id)
            self._set(
                run_id,
                status=RunStatus.FAILED,
                error=(
                    f"The run failed because of a server fault ({type(exc).__name__}); it has "
                    f"been logged. Re-run it with POST /runs/{run_id}/rerun or tell the operators."
                ),
                finished_at=utcnow(),
            )
        finally:
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
