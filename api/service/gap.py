"""The coverage-gap estimate the service serves: computed once from its registry and survey.

``GET /gap`` answers from the gap table (:func:`rahat.engine.gap.estimate_gap`) of the served
registry (``RAHAT_REGISTRY_PATH``) and survey (``RAHAT_SURVEY_PATH``, default ``survey.parquet``
next to the registry). The estimate takes seconds (a bootstrap per district), so
:class:`GapService` computes it once, in a worker thread of its own, on the first request
after a start or after either file changed; requests wait for it at most
``RAHAT_GAP_WAIT_SECONDS`` (then 503 with ``Retry-After``: it goes on being computed). The
table is kept with its suppression tree (:mod:`rahat.api.service.gap_view`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.api.service.gap_view import GapTree, build_tree
from rahat.api.service.registry_status import require_registry
from rahat.api.service.settings import Settings
from rahat.geo.errors import InputError, UnavailableError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("rahat.api")

#: What to do when the service has no survey (problems, start-up line).
NO_SURVEY_HINT = (
    "no survey for the coverage-gap estimates: set RAHAT_SURVEY_PATH (or `rahat serve "
    "--survey FILE`) to a survey with design weights and registration status, or put "
    "survey.parquet next to the registry (`rahat demo` and `rahat registry synth` write one), "
    "then restart `rahat serve`"
)
#: Seconds a client is told to wait (``Retry-After``) while the estimate is computed.
RETRY_AFTER_SECONDS = 15


class GapPendingError(UnavailableError):
    """The estimate is still being computed; retry after :data:`RETRY_AFTER_SECONDS` (503)."""

    code = "gap-pending"

    def __init__(self, waited: float) -> None:
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        super().__init__(
            f"The coverage-gap estimate is still being computed (waited {waited:g} s); it "
            f"goes on in the background: retry in {RETRY_AFTER_SECONDS} s."
        )


def survey_status(settings: Settings, *, strict: bool) -> str:
    """One line on the survey of the gap estimates, for the start-up log (file name only).

    Parameters
    ----------
    settings
        The service settings (:attr:`~rahat.api.service.settings.Settings.survey_file`).
    strict
        Raise for a survey named explicitly (``RAHAT_SURVEY_PATH``) that is missing or
        unusable; the default one next to the registry is only reported.

    Raises
    ------
    rahat.geo.errors.InputError
        When ``strict`` and the named survey cannot be used.
    """
    from rahat.engine.gap.inputs import read_survey

    path = settings.survey_file
    if not path.exists() and (settings.survey_path is None or not strict):
        return f"survey {path.name}: missing; {NO_SURVEY_HINT}"
    try:
        frame = read_survey(path)
    except InputError as exc:
        if strict and settings.survey_path is not None:
            raise InputError(
                f"--survey / RAHAT_SURVEY_PATH: {exc}; GET /gap needs a usable survey"
            ) from None
        return f"survey {path.name}: unusable ({exc}); GET /gap answers 503"
    return (
        f"survey {path.name}: {len(frame):,} households; coverage-gap estimates with "
        f"{settings.gap_denominators} denominators"
    )


@dataclass
class GapEstimate:
    """A computed gap table, rounded as written, with its suppression tree and inputs."""

    table: pd.DataFrame
    tree: GapTree
    survey_name: str
    survey_households: int
    registry_name: str
    denominators: str
    seconds: float

    @property
    def levels(self) -> list[str]:
        """The levels of the table, in order of first appearance."""
        return list(dict.fromkeys(str(v) for v in self.table["level"]))


def estimate(settings: Settings) -> GapEstimate:
    """Compute the gap table of the served registry and survey (seconds).

    Raises
    ------
    rahat.geo.errors.UnavailableError
        When the registry or the survey is missing, or they cannot be estimated from (the
        reason is told; the files are the operator's, not the caller's).
    """
    from rahat.engine.gap import GapOptions
    from rahat.engine.gap.inputs import census_households, read_survey, tehsil_census
    from rahat.engine.gap.outputs import gap_csv_frame
    from rahat.engine.gap.table import gap_table
    from rahat.engine.pipeline import load_registry

    start = time.perf_counter()
    require_registry(settings.registry_path)
    path = settings.survey_file
    if not path.exists():
        raise UnavailableError(NO_SURVEY_HINT)
    try:
        survey = read_survey(path)
        loaded = load_registry(settings.registry_path, snapshots=True, notify=logger.info)
        frame = loaded.registry.frame
        census = settings.gap_denominators == "census"
        result = gap_table(
            survey,
            frame,
            census_households() if census else None,
            GapOptions(),
            tehsil_households=tehsil_census(frame) if census else None,
        )
    except InputError as exc:
        raise UnavailableError(
            f"the coverage gap cannot be estimated from the served registry and survey: {exc}"
        ) from None
    table = gap_csv_frame(result.table)
    tree = build_tree(table, result.keys.tolist())
    seconds = time.perf_counter() - start
    logger.info("coverage-gap estimate: %d units in %.1f s", len(table), seconds)
    return GapEstimate(
        table=table,
        tree=tree,
        survey_name=path.name,
        survey_households=len(survey),
        registry_name=settings.registry_path.name,
        denominators=settings.gap_denominators,
        seconds=seconds,
    )


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Size, modification time and inode of ``path`` (a snapshot: of its ``snapshot.json``)."""
    from rahat.geo.registry.snapshot import META_FILE

    target = path / META_FILE if path.is_dir() else path
    try:
        st = os.stat(target)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _retry(future: Future[GapEstimate]) -> bool:
    """Whether a finished computation failed by accident (not for its inputs): run it again."""
    if not future.done():
        return False
    if future.cancelled():
        return True
    error = future.exception()
    return error is not None and not isinstance(error, UnavailableError)


class GapService:
    """The service's gap estimate: computed once per registry and survey, then shared.

    Parameters
    ----------
    settings
        Registry, survey, denominators and how long a request waits.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._key: tuple[Any, ...] | None = None
        self._future: Future[GapEstimate] | None = None

    def _inputs_key(self) -> tuple[Any, ...]:
        s = self.settings
        return (_stamp(s.registry_path), str(s.survey_file), _stamp(s.survey_file))

    def _current(self) -> Future[GapEstimate]:
        """The estimate of the current files: started when there is none, or it is stale."""
        key = self._inputs_key()
        with self._lock:
            future = self._future
            if future is None or key != self._key or _retry(future):
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rahat-gap")
                future = self._pool.submit(estimate, self.settings)
                self._key, self._future = key, future
            assert future is not None
            return future

    def get(self, wait: float | None = None) -> GapEstimate:
        """The estimate, waiting at most ``wait`` seconds (default ``RAHAT_GAP_WAIT_SECONDS``).

        Raises
        ------
        GapPendingError
            When it is not ready in time (it goes on being computed).
        rahat.geo.errors.UnavailableError
            When there is no registry or survey, or they cannot be estimated from.
        """
        wait = self.settings.gap_wait_seconds if wait is None else wait
        try:
            return self._current().result(timeout=wait)
        except FutureTimeout:
            raise GapPendingError(wait) from None

    def close(self) -> None:
        """Stop the worker thread (a computation in progress is abandoned)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
