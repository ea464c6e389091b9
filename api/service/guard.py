"""Defence against differencing ("tracker") attacks between runs, and a rate limit on runs.

Small-cell suppression protects each run's figures on their own, but two runs whose caseloads
differ by one household publish totals that differ by exactly that household: an agency that
draws a tiny hazard polygon around one household, or steps ``pmt_cutoff``, reads off its
eligibility, PMT band, size or benefit.

When a run succeeds, the household sets behind its figures are stored next to its caseload
(:data:`SETS_FILE`): *considered* (every caseload row: the ``households`` figures), *eligible*
and *selected*, the last with each household's benefit and size (the ``benefit`` and
``persons_selected`` sums). The run is compared with the recent readable runs that the same
readers can see (``guard_scope``: by default its organisation's, as agencies and planners see
only their own runs) and **withheld** (figures refused to all but admins) when, against one:

* a set differs by 1 to ``k - 1`` households (a selected household whose benefit or size
  changed counts as a difference), or
* the eligible or selected set is unchanged although the inputs deciding it differ, so that the
  refusal never tells "the household moved" from "it did not". A re-run (same inputs, same
  sets) discloses nothing and stays readable.

Runs are decided one at a time under a lock (a PostgreSQL advisory lock too), so runs finishing
together are compared. The limits are listed in the README ("Threat model: differencing
between runs").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from sqlalchemy import and_, func, or_, select, text, update

from rahat.api.service.enums import RunStatus
from rahat.api.service.models import Hazard, Run, utcnow
from rahat.api.service.settings import Settings
from rahat.api.service.storage import TEMP_PREFIX, fsync_dir
from rahat.geo.errors import AccessDeniedError, RateLimitedError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from rahat.api.service.security import Principal

logger = logging.getLogger("rahat.api.guard")

#: Household sets of a run, next to its caseload.
SETS_FILE = "household_sets.npz"
#: Sizes and digests of :data:`SETS_FILE`, read first so that most comparisons load no array.
SETS_META_FILE = "household_sets.json"
#: The sets whose counts a run publishes, in the order they are compared.
SET_NAMES: tuple[str, ...] = ("considered", "eligible", "selected")
#: Sets for which "unchanged although the deciding inputs changed" counts as close.
ZERO_SENSITIVE: tuple[str, ...] = ("eligible", "selected")
#: Per-household values of the selected set that the published sums add up.
SELECTED_VALUES: tuple[str, ...] = ("selected_benefit", "selected_persons")

#: Scenario blocks that change no output.
_INFORMATIONAL = frozenset({"name", "description", "registry"})
#: Scenario blocks that change which eligible households are selected, not who is eligible.
_SELECTION_ONLY = frozenset({"seed", "priority", "benefit", "budget", "quotas"})
_META_VERSION = 1
#: Serialises guard decisions in this process; PostgreSQL also takes this advisory lock.
_LOCK = threading.Lock()
_PG_LOCK_KEY = 0x7261_6861_7467


class FiguresWithheldError(AccessDeniedError):
    """A run's figures are withheld: it is too close to another recent run (403).

    The message names neither the size of the difference nor the other run.
    """

    code = "figures-withheld"

    def __init__(self, run_id: str, k: int | None = None) -> None:
        self.run_id = run_id
        n = "k" if k is None else str(k)
        super().__init__(
            f"Run '{run_id}''s figures are withheld: its caseload differs from another recent "
            f"run of your organisation by fewer than {n} households, which could single out "
            f"households. Change the scenario so that it differs by at least {n} households, "
            "or ask an administrator."
        )


class RunRateLimitedError(RateLimitedError):
    """The organisation started too many runs in the last hour (429, with ``Retry-After``)."""

    def __init__(self, limit: int, retry_after: float) -> None:
        self.limit = limit
        super().__init__(
            f"Your organisation has started {limit} runs in the last hour, the most allowed; "
            f"retry in {max(1, math.ceil(retry_after))} s or ask an administrator.",
            retry_after=retry_after,
        )


# -- household sets ------------------------------------------------------------------------------
@dataclass
class HouseholdSets:
    """Sorted unique household ids of a run's sets, with the selected households' values."""

    considered: np.ndarray
    eligible: np.ndarray
    selected: np.ndarray
    selected_benefit: np.ndarray
    selected_persons: np.ndarray

    def arrays(self) -> dict[str, Any]:
        """Return the arrays by name, as stored in :data:`SETS_FILE`."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def meta(self) -> dict[str, Any]:
        """Return the sizes and digests of the sets (the selected digest covers its values)."""
        arrays = self.arrays()
        digests = {}
        for name in SET_NAMES:
            parts = [arrays[name]] + (
                [arrays[v] for v in SELECTED_VALUES] if name == "selected" else []
            )
            digest = hashlib.sha256()
            for part in parts:
                digest.update(np.ascontiguousarray(part).data)
            digests[name] = digest.hexdigest()
        return {
            "version": _META_VERSION,
            "sizes": {name: len(arrays[name]) for name in SET_NAMES},
            "digests": digests,
        }


def household_sets(caseload: Path) -> HouseholdSets:
    """Read the household sets of ``caseload.parquet`` (only the columns needed).

    Parameters
    ----------
    caseload
        A run's caseload. ``household_id`` is required; a missing ``eligible`` or ``selected``
        column counts as all false, a missing ``benefit`` or ``household_size`` as zero, as in
        :mod:`rahat.api.service.aggregates`.

    Returns
    -------
    HouseholdSets
        Considered (all rows), eligible and selected ids as sorted unique int64 arrays, and the
        benefit (float64) and size (int64) of each selected household, aligned to its ids.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = set(pq.read_schema(caseload).names)
    if "household_id" not in names:
        raise ValueError(f"{caseload} has no household_id column")
    wanted = ["household_id", "eligible", "selected", "benefit", "household_size"]
    table = pq.read_table(caseload, columns=[c for c in wanted if c in names])
    n = table.num_rows

    def column(name: str, fill: Any, dtype: Any) -> np.ndarray:
        if name not in table.column_names:
            return np.full(n, fill, dtype=dtype)
        values = pc.fill_null(table[name], fill).to_numpy()
        return np.asarray(values, dtype=dtype)

    ids = np.asarray(table["household_id"].to_numpy(), dtype=np.int64)
    chosen = column("selected", False, bool)
    order = np.argsort(ids[chosen], kind="stable")
    selected, first = _sorted_unique(ids[chosen][order])
    return HouseholdSets(
        considered=_sorted_unique(np.sort(ids))[0],
        eligible=_sorted_unique(np.sort(ids[column("eligible", False, bool)]))[0],
        selected=selected,
        selected_benefit=np.nan_to_num(column("benefit", 0.0, np.float64)[chosen][order][first]),
        selected_persons=column("household_size", 0, np.int64)[chosen][order][first],
    )


def _sorted_unique(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values of sorted ``ids`` and where each first occurs (faster than ``np.unique``)."""
    keep = np.ones(len(ids), dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=keep[1:])
    return ids[keep], np.flatnonzero(keep)


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    temp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with open(temp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def save_household_sets(run_dir: Path) -> dict[str, Any]:
    """Store the household sets of ``run_dir/caseload.parquet`` next to it.

    Writes :data:`SETS_FILE` (``np.savez``, uncompressed) and :data:`SETS_META_FILE`, each
    through a temporary file and a rename.

    Returns
    -------
    dict
        The sizes and digests written to :data:`SETS_META_FILE`.
    """
    sets = household_sets(run_dir / "caseload.parquet")
    meta = sets.meta()
    _atomic_write(run_dir / SETS_FILE, lambda fh: np.savez(fh, **sets.arrays()))
    _atomic_write(run_dir / SETS_META_FILE, lambda fh: fh.write(json.dumps(meta).encode()))
    return meta


class StoredSets:
    """The household sets of a finished run, loaded lazily from its folder.

    A run finished before the sets were stored gets them computed from its caseload (and
    stored) on first use.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._meta: dict[str, Any] | None = None
        self._arrays: dict[str, np.ndarray] = {}

    @property
    def meta(self) -> dict[str, Any]:
        """Sizes and digests of the sets."""
        if self._meta is None:
            path = self.run_dir / SETS_META_FILE
            meta = json.loads(path.read_text()) if path.is_file() else None
            if (
                not meta
                or meta.get("version") != _META_VERSION
                or not (self.run_dir / SETS_FILE).is_file()
            ):
                meta = save_household_sets(self.run_dir)
            self._meta = meta
        return self._meta

    def array(self, name: str) -> np.ndarray:
        """Return one stored array (read once)."""
        if name not in self._arrays:
            _ = self.meta
            with np.load(self.run_dir / SETS_FILE, allow_pickle=False) as data:
                self._arrays[name] = data[name]
        return self._arrays[name]


def set_distance(
    a: np.ndarray,
    b: np.ndarray,
    values: Iterable[tuple[np.ndarray, np.ndarray]] = (),
) -> int:
    """Number of households whose membership (or value) differs between two sets.

    Parameters
    ----------
    a, b
        Sorted unique int64 household ids.
    values
        Pairs of arrays aligned to ``a`` and ``b``; a household in both whose value differs
        in any pair counts once.

    Returns
    -------
    int
        ``|a Δ b|`` plus the households of ``a ∩ b`` with a changed value.
    """
    if len(a) == 0 or len(b) == 0:
        return len(a) + len(b)
    position = np.searchsorted(b, a)
    np.minimum(position, len(b) - 1, out=position)
    hit = b[position] == a
    common = int(np.count_nonzero(hit))
    distance = len(a) + len(b) - 2 * common
    changed: np.ndarray | None = None
    for value_a, value_b in values:
        differs = value_a[hit] != value_b[position[hit]]
        changed = differs if changed is None else changed | differs
    if changed is not None:
        distance += int(np.count_nonzero(changed))
    return distance


# -- input fingerprints --------------------------------------------------------------------------
def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def input_fingerprints(
    scenario: Mapping[str, Any], hazards: Mapping[str, str], hazard_sha256: Mapping[str, str]
) -> dict[str, str]:
    """Fingerprint the inputs that decide each household set of a run.

    Uploaded layers are identified by the SHA-256 of their file, not their path or id, so an
    inline scenario and the same named scenario over the same upload match. Names and
    descriptions are left out; ``seed``, ``priority``, ``benefit``, ``budget`` and ``quotas``
    count only for the selected set.

    Parameters
    ----------
    scenario
        The stored scenario of the run.
    hazards
        Scenario hazard key -> uploaded hazard id.
    hazard_sha256
        Hazard id -> SHA-256 of the file (an unknown id stands for itself).

    Returns
    -------
    dict
        Set name -> hex digest.
    """
    layers = []
    for layer in scenario.get("hazards") or []:
        spec = dict(layer) if isinstance(layer, Mapping) else {"layer": layer}
        hazard_id = hazards.get(str(spec.get("name")))
        if hazard_id is not None:
            spec["path"] = "upload:" + hazard_sha256.get(hazard_id, f"id:{hazard_id}")
        layers.append(spec)
    full = {k: v for k, v in scenario.items() if k not in _INFORMATIONAL} | {"hazards": layers}
    decides_sets = _digest({k: v for k, v in full.items() if k not in _SELECTION_ONLY})
    return {"considered": decides_sets, "eligible": decides_sets, "selected": _digest(full)}


# -- comparing runs ------------------------------------------------------------------------------
@dataclass
class RunFacts:
    """What the guard compares of one run: its stored sets and input fingerprints."""

    run_id: str
    sets: StoredSets
    fingerprints: dict[str, str] = field(default_factory=dict)


#: Households of a set first compared on their own (:func:`_distance`).
PROBE = 1 << 14


def _distance(new: RunFacts, old: RunFacts, name: str, k: int) -> int:
    """Distance of set ``name``, or ``k`` when the sizes alone show it is at least ``k``."""
    if new.sets.meta["digests"][name] == old.sets.meta["digests"][name]:
        return 0
    if abs(new.sets.meta["sizes"][name] - old.sets.meta["sizes"][name]) >= k:
        return k
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if name == "selected":
        pairs = [(new.sets.array(v), old.sets.array(v)) for v in SELECTED_VALUES]
    a, b = new.sets.array(name), old.sets.array(name)
    if len(a) > PROBE and len(b) > 0:
        # The sets below an id are a part of the whole: if they alone differ by k, so does
        # the whole (two sets of a national caseload seldom need more than this first look).
        end = int(np.searchsorted(b, a[PROBE - 1], side="right"))
        probe = [(x[:PROBE], y[:end]) for x, y in pairs]
        if set_distance(a[:PROBE], b[:end], probe) >= k:
            return k
    return set_distance(a, b, pairs)


def is_close(new: RunFacts, old: RunFacts, k: int) -> bool:
    """Whether reading both runs' figures could single out fewer than ``k`` households.

    Close when a set differs by 1 to ``k - 1`` households, or when the eligible or selected
    set is unchanged although the inputs deciding it differ (so that a refusal never tells a
    changed household from an unchanged one).
    """
    for name in SET_NAMES:
        distance = _distance(new, old, name, k)
        if 0 < distance < k:
            return True
        if (
            distance == 0
            and name in ZERO_SENSITIVE
            and new.fingerprints.get(name) != old.fingerprints.get(name)
        ):
            return True
    return False


def evaluate(new: RunFacts, earlier: Iterable[RunFacts], k: int) -> dict[str, Any]:
    """Return the guard verdict of ``new`` against ``earlier`` readable runs.

    Returns
    -------
    dict
        ``{"withheld": bool, "close_to": id or None, "compared": int}``.
    """
    compared = 0
    for old in earlier:
        try:
            _ = old.sets.meta
        except Exception as exc:  # its caseload is gone or unreadable, and so are its figures
            logger.warning("guard: run %s has no readable caseload (%s)", old.run_id, exc)
            continue
        compared += 1
        if is_close(new, old, k):
            return {"withheld": True, "close_to": old.run_id, "compared": compared}
    return {"withheld": False, "close_to": None, "compared": compared}


def is_withheld(run: Run) -> bool:
    """Whether ``run``'s figures are withheld (runs checked by no guard are not)."""
    guard = run.guard
    return bool(isinstance(guard, dict) and guard.get("withheld"))


def _hazard_sha256(session: Session, ids: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = session.execute(select(Hazard.id, Hazard.sha256).where(Hazard.id.in_(chunk)))
        found.update({hazard_id: sha for hazard_id, sha in rows})
    return found


def _earlier_runs(session: Session, settings: Settings, run: Run) -> list[Run]:
    """Recent succeeded, readable runs to compare ``run`` with, newest first."""
    cutoff = utcnow() - dt.timedelta(days=settings.guard_window_days)
    query = select(Run).where(
        Run.status == RunStatus.SUCCEEDED,
        Run.id != run.id,
        Run.artifact_dir.is_not(None),
        or_(
            Run.finished_at >= cutoff,
            and_(Run.finished_at.is_(None), Run.created_at >= cutoff),
        ),
    )
    if settings.guard_scope == "organisation":
        query = query.where(Run.created_by == run.created_by)
    query = query.order_by(func.coalesce(Run.finished_at, Run.created_at).desc(), Run.id)
    readable = (r for r in session.scalars(query) if not is_withheld(r))
    return [r for _, r in zip(range(settings.guard_window_runs), readable, strict=False)]


def guard_run(session: Session, settings: Settings, run: Run, run_dir: Path) -> dict[str, Any]:
    """Compare ``run`` (its sets stored in ``run_dir``) with the recent readable runs.

    Returns
    -------
    dict
        The verdict to store in ``Run.guard``.
    """
    earlier = _earlier_runs(session, settings, run)
    hazard_ids = {h for r in [run, *earlier] for h in (r.hazards or {}).values()}
    sha = _hazard_sha256(session, hazard_ids)

    def facts(r: Run, folder: Path) -> RunFacts:
        prints = input_fingerprints(r.scenario or {}, r.hazards or {}, sha)
        return RunFacts(r.id, StoredSets(folder), prints)

    new = facts(run, run_dir)
    olds = (facts(r, Path(str(r.artifact_dir))) for r in earlier)
    return evaluate(new, olds, settings.k_anonymity)


def record_success(
    sessions: sessionmaker[Session],
    settings: Settings,
    run_id: str,
    run_dir: Path,
    **values: Any,
) -> dict[str, Any]:
    """Guard a finished run and store ``values`` (its succeeded state) with the verdict.

    Decisions are serialised (a lock in this process, and a transaction-scoped advisory lock
    on PostgreSQL), so a run is always compared with every run that succeeded before it. If
    the comparison itself fails, the run is withheld (fail closed) and the fault logged.

    Parameters
    ----------
    sessions, settings
        Session factory of the service database; service settings.
    run_id, run_dir
        The run and its published folder, where :func:`save_household_sets` stored its sets.
    **values
        Columns of the run to set in the same update (``status="succeeded"``, ...).

    Returns
    -------
    dict
        The verdict stored in ``Run.guard``.
    """
    with _LOCK, sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        run = session.get(Run, run_id)
        if run is None:
            return {"withheld": True, "close_to": None}
        try:
            verdict = guard_run(session, settings, run, run_dir)
        except Exception:
            logger.exception("guard check of run %s failed; its figures are withheld", run_id)
            verdict = {"withheld": True, "close_to": None, "error": "guard check failed"}
        if verdict["withheld"]:
            logger.warning("run %s withheld: too close to run %s", run_id, verdict["close_to"])
        session.execute(update(Run).where(Run.id == run_id).values(**values, guard=verdict))
    return verdict


# -- for the routers -----------------------------------------------------------------------------
def check_figures_readable(run: Run, principal: Principal, *, k: int | None = None) -> None:
    """Refuse a withheld run's figures (summary, map, comparison) to everyone but admins.

    Raises
    ------
    FiguresWithheldError
        When the run is withheld and the caller is not an admin. The message names neither
        the size of the difference nor the other run.
    """
    if not principal.is_admin and is_withheld(run):
        raise FiguresWithheldError(run.id, k)


def check_run_rate(
    session: Session, principal: Principal, settings: Settings, *, now: dt.datetime | None = None
) -> None:
    """Refuse a new run when the organisation started ``max_runs_per_hour`` in the last hour.

    Admins are exempt; ``max_runs_per_hour = 0`` switches the limit off.

    Raises
    ------
    RateLimitedError
        With ``retry_after``: seconds until the oldest counted run leaves the hour.
    """
    limit = settings.max_runs_per_hour
    if principal.is_admin or limit <= 0:
        return
    now = now or utcnow()
    hour = dt.timedelta(hours=1)
    times = list(
        session.scalars(
            select(Run.created_at)
            .where(Run.created_by == principal.organisation_id, Run.created_at > now - hour)
            .order_by(Run.created_at)
        )
    )
    if len(times) >= limit:
        frees = times[len(times) - limit] + hour
        raise RunRateLimitedError(limit, (frees - now).total_seconds())
