"""``/audit``: the append-only audit log, readable by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from rahat.api.service.models import AuditEvent
from rahat.api.service.problems import problem_docs
from rahat.api.service.schemas import MAX_OFFSET, AuditOut
from rahat.api.service.security import AdminPrincipal, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut], responses=problem_docs(401, 403))
def read_audit(
    session: SessionDep,
    principal: AdminPrincipal,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    organisation: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AuditOut]:
    """Audit entries, oldest first, optionally for one run, organisation or action."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if run_id is not None:
        query = query.where(AuditEvent.run_id == run_id)
    if organisation is not None:
        query = query.where(AuditEvent.organisation == organisation)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return [AuditOut.model_validate(e) for e in session.scalars(query.limit(limit).offset(offset))]
