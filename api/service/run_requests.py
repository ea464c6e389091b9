"""What the ``/runs`` routes do, without HTTP: start, re-run, list and read runs.

Each function takes the database session, the settings and the caller, and either returns what
the route answers or raises an error of :mod:`rahat.geo.errors`, which
:mod:`rahat.api.service.problems` turns into a problem document (422 for a bad request, 403, 404,
409, 429, 503, 507).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rahat.api.service import access, comparison
from rahat.api.service.aggregates import summary
from rahat.api.service.enums import RERUNNABLE, Role, RunStatus
from rahat.api.service.guard import check_figures_readable, check_run_rate
from rahat.api.service.jobs import JobManager
from rahat.api.service.maps import aggregate_map
from rahat.api.service.models import Agreement, Hazard, Run
from rahat.api.service.registry_status import require_registry
from rahat.api.service.scenarios import prepare_scenario
from rahat.api.service.schemas import RunCreate
from rahat.api.service.security import Principal, active_agreement
from rahat.api.service.settings import Settings
from rahat.api.service.storage import require_free_space
from rahat.geo.errors import AccessDeniedError, ConflictError, InputError, NotFoundError


def resolve_hazards(session: Session, hazards: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """Return the scenario's hazard key -> uploaded hazard id of a run request.

    A list of ids is keyed by each hazard's name.

    Raises
    ------
    rahat.geo.errors.InputError
        For an id no upload has, or two listed hazards of the same name.
    """
    ids = list(hazards.values()) if isinstance(hazards, Mapping) else list(hazards)
    found = {h.id: h for h in session.scalars(select(Hazard).where(Hazard.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InputError(f"Unknown hazard id(s) {missing}: upload them with POST /hazards first.")
    if isinstance(hazards, Mapping):
        return dict(hazards)
    keyed: dict[str, str] = {}
    for hid in ids:
        key = found[hid].name
        if key in keyed:
            raise InputError(
                f"Two hazards are named '{key}': pass 'hazards' as a mapping from the "
                "scenario's hazard key to the id instead of a list."
            )
        keyed[key] = hid
    return keyed


def start_run(session: Session, settings: Settings, principal: Principal, body: RunCreate) -> Run:
    """Check a run request and store the run ``queued`` (committed; the caller submits it).

    Refused (in this order) beyond the organisation's runs per hour (429), for unknown hazards
    or an invalid scenario (422), without a registry (503) or on a full disk (507).
    """
    check_run_rate(session, principal, settings)
    hazards = resolve_hazards(session, body.hazards)
    scenario = prepare_scenario(settings, body, set(hazards))
    require_registry(settings.registry_path)
    require_free_space(settings.runs_dir)
    run = Run(
        scenario=scenario,
        scenario_name=body.scenario_name,
        hazards=hazards,
        status=RunStatus.QUEUED,
        progress=0.0,
        attempts=0,
        created_by=principal.organisation_id,
    )
    session.add(run)
    session.commit()
    return run


def rerun(
    session: Session, settings: Settings, jobs: JobManager, principal: Principal, run_id: str
) -> Run:
    """Queue an interrupted or failed run again under its id (committed and submitted).

    Raises
    ------
    rahat.geo.errors.NotFoundError
        For a run the caller may not see.
    rahat.geo.errors.ConflictError
        For a run that is neither interrupted nor failed.
    rahat.geo.errors.StorageFullError
        On a full disk.
    """
    run = access.readable_run(session, principal, run_id)
    if run.status not in RERUNNABLE:
        raise ConflictError(
            f"Run '{run_id}' is {run.status}; only interrupted or failed runs can be re-run."
        )
    require_free_space(settings.runs_dir)
    jobs.requeue(session, run)
    session.commit()
    jobs.submit(run.id)
    return run


def list_runs(
    session: Session, principal: Principal, status: RunStatus | None, limit: int, offset: int
) -> list[Run]:
    """The runs ``principal`` may see, newest first, optionally of one ``status``."""
    query = access.visible_runs(session, principal).order_by(Run.created_at.desc(), Run.id)
    if status is not None:
        query = query.where(Run.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


def threshold(principal: Principal, settings: Settings) -> int | None:
    """The k-anonymity threshold of ``principal``'s figures (``None``: admins see all)."""
    return None if principal.is_admin else settings.k_anonymity


def figures_dir(session: Session, principal: Principal, run_id: str, settings: Settings) -> Path:
    """Artifact folder of a run whose figures ``principal`` may read (404, 409, 403)."""
    run = access.readable_run(session, principal, run_id)
    run_dir = access.finished_dir(run)
    check_figures_readable(run, principal, k=settings.k_anonymity)
    return run_dir


def run_summary(
    session: Session, principal: Principal, run_id: str, settings: Settings, level: str
) -> dict[str, Any]:
    """Figures of a run per unit of ``level``, suppressed below k for non-admins."""
    run_dir = figures_dir(session, principal, run_id, settings)
    return summary(run_dir, level, threshold(principal, settings))


def compare(
    session: Session, principal: Principal, run_a: str, run_b: str, level: str, settings: Settings
) -> dict[str, Any]:
    """Selected caseloads of two runs per unit of ``level`` and their household overlap."""
    dir_a = figures_dir(session, principal, run_a, settings)
    dir_b = figures_dir(session, principal, run_b, settings)
    return comparison.compare_runs(dir_a, dir_b, level, threshold(principal, settings))


def map_file(session: Session, principal: Principal, run_id: str, settings: Settings) -> Path:
    """The PNG map of a run: household points for admins, else blanked selected per district."""
    run_dir = figures_dir(session, principal, run_id, settings)
    if not principal.is_admin:
        return aggregate_map(run_dir, settings.k_anonymity)
    path = run_dir / "map.png"
    if not path.is_file():
        raise NotFoundError(f"Run '{run_id}' has no map.")
    return path


def household_agreement(session: Session, principal: Principal) -> Agreement | None:
    """The agreement an NGO's household request is served under (``None`` for others).

    Raises
    ------
    rahat.geo.errors.AccessDeniedError
        For an NGO without an agreement in force today, saying why.
    """
    if principal.role != Role.NGO:
        return None
    agreement = active_agreement(session, principal.organisation_id)
    if agreement is not None:
        return agreement
    agreements = session.scalars(
        select(Agreement).where(Agreement.organisation_id == principal.organisation_id)
    ).all()
    if not agreements:
        raise AccessDeniedError(
            "Your organisation has no data-sharing agreement; ask an administrator."
        )
    latest = max(agreements, key=lambda a: a.valid_to)
    raise AccessDeniedError(
        f"Your data-sharing agreement is not in force today (valid {latest.valid_from} to "
        f"{latest.valid_to}); ask an administrator to renew it."
    )
