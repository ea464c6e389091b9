"""Who may see which run: runs are private to their organisation until an agency publishes one.

* admins see every run;
* agencies and planners see the runs their own organisation started;
* NGOs see only the runs published to the data-sharing agreement in force for them.

A run a caller may not see answers exactly as a run that does not exist (404), so run ids
cannot be probed. Publishing is a recorded act (:class:`~rahat.api.service.models.RunShare`)
by an agency (or an admin) naming the agreements the run is shared under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from rahat.api.service.enums import Role, RunStatus
from rahat.api.service.models import Agreement, Run, RunShare
from rahat.api.service.security import Principal, active_agreement
from rahat.geo.errors import AccessDeniedError, ConflictError, InputError, NotFoundError


def visible_runs(session: Session, principal: Principal) -> Select[Any]:
    """A query of the runs ``principal`` may see (unordered)."""
    query = select(Run)
    if principal.is_admin:
        return query
    if principal.role == Role.NGO:
        agreement = active_agreement(session, principal.organisation_id)
        if agreement is None:
            return query.where(Run.id.is_(None))
        shared = select(RunShare.run_id).where(RunShare.agreement_id == agreement.id)
        return query.where(Run.id.in_(shared))
    return query.where(Run.created_by == principal.organisation_id)


def readable_run(session: Session, principal: Principal, run_id: str) -> Run:
    """The run ``run_id`` if ``principal`` may see it; otherwise :class:`NotFoundError`."""
    run: Run | None = session.scalar(visible_runs(session, principal).where(Run.id == run_id))
    if run is None:
        raise NotFoundError("No run with that id that you may read; list your runs with GET /runs.")
    return run


def finished_dir(run: Run) -> Path:
    """The artifact folder of a succeeded run; :class:`ConflictError` otherwise."""
    if run.status != RunStatus.SUCCEEDED or not run.artifact_dir:
        hints: dict[str, str] = {
            RunStatus.QUEUED: "wait until it has run",
            RunStatus.RUNNING: f"wait until it finishes (progress {run.progress:.0%})",
            RunStatus.FAILED: f"fix the cause and POST /runs/{run.id}/rerun",
            RunStatus.INTERRUPTED: f"POST /runs/{run.id}/rerun to run it again",
        }
        hint = hints.get(run.status, "")
        raise ConflictError(f"Run '{run.id}' is {run.status}, so it has no outputs; {hint}.")
    return Path(run.artifact_dir)


def publish_run(
    session: Session, principal: Principal, run: Run, agreement_ids: Sequence[int]
) -> list[RunShare]:
    """Share a succeeded run with the NGOs of ``agreement_ids`` (the caller commits).

    Only an agency that started the run (or an admin) may publish it, only once it has
    succeeded, and only under agreements in force or starting later; publishing under an
    agreement twice is a no-op.

    Returns
    -------
    list of RunShare
        Every share of the run after publishing.
    """
    if not principal.is_admin and (
        principal.role != Role.AGENCY or run.created_by != principal.organisation_id
    ):
        raise AccessDeniedError(
            "Only the agency that started a run (or an administrator) may publish it to NGOs."
        )
    finished_dir(run)
    if not agreement_ids:
        raise InputError("name at least one data-sharing agreement to publish the run under")
    wanted = sorted(set(agreement_ids))
    found = {a.id: a for a in session.scalars(select(Agreement).where(Agreement.id.in_(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InputError(f"no data-sharing agreement with id(s) {missing}")
    today = dt.datetime.now(dt.UTC).date()
    lapsed = [i for i in wanted if found[i].valid_to < today]
    if lapsed:
        raise InputError(f"agreement(s) {lapsed} have expired; a run cannot be published to them")
    existing = set(session.scalars(select(RunShare.agreement_id).where(RunShare.run_id == run.id)))
    for agreement_id in wanted:
        if agreement_id not in existing:
            session.add(
                RunShare(
                    run_id=run.id,
                    agreement_id=agreement_id,
                    published_by=principal.organisation_id,
                )
            )
    session.flush()
    return list(session.scalars(select(RunShare).where(RunShare.run_id == run.id)))
