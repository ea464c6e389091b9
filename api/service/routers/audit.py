"""``/audit``: the append-only audit log, readable and exportable by admins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from rahat.api.service.audit_export import (
    COLUMNS,
    FORMATS,
    AuditFilter,
    encode,
    iter_entries,
    snapshot,
)
from rahat.api.service.deps import AuditDep, SessionDep, SessionsDep
from rahat.api.service.enums import AuditFormat
from rahat.api.service.models import AuditEvent
from rahat.api.service.problems import problem_docs
from rahat.api.service.schemas import MAX_OFFSET, AuditOut
from rahat.api.service.security import AdminPrincipal

router = APIRouter(prefix="/audit", tags=["audit"])

RunIdQuery = Annotated[str | None, Query(max_length=64)]
OrganisationQuery = Annotated[str | None, Query(max_length=200)]
ActionQuery = Annotated[str | None, Query(max_length=50)]
SinceQuery = Annotated[
    dt.datetime | None, Query(description="Entries at or after this instant (ISO 8601; UTC).")
]
UntilQuery = Annotated[
    dt.datetime | None, Query(description="Entries before this instant (ISO 8601; UTC).")
]


@router.get("", response_model=list[AuditOut], responses=problem_docs(401, 403, 422))
def read_audit(
    session: SessionDep,
    principal: AdminPrincipal,
    run_id: RunIdQuery = None,
    organisation: OrganisationQuery = None,
    action: ActionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AuditOut]:
    """Audit entries, oldest first, optionally for one run, organisation, action or period."""
    flt = AuditFilter(run_id, organisation, action, since, until)
    query = flt.apply(select(AuditEvent)).order_by(AuditEvent.id)
    return [AuditOut.model_validate(e) for e in session.scalars(query.limit(limit).offset(offset))]


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="Export the audit log",
    responses={
        200: {"content": {media: {} for media in FORMATS.values()}},
        **problem_docs(401, 403, 422),
    },
)
def export_audit(
    session: SessionDep,
    sessions: SessionsDep,
    audit: AuditDep,
    principal: AdminPrincipal,
    format: AuditFormat = AuditFormat.CSV,
    run_id: RunIdQuery = None,
    organisation: OrganisationQuery = None,
    action: ActionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> StreamingResponse:
    """Stream the audit entries matching the filters, oldest first, as CSV or JSON Lines.

    The export holds the entries that existed when it started (not its own entry, which is
    written as it starts). In CSV, ``filter`` and ``fields`` are JSON text.
    """
    flt = AuditFilter(run_id, organisation, action, since, until)
    up_to, count = snapshot(session, flt)
    session.close()
    audit.add(rows=count, fields=COLUMNS, filter={"format": str(format), **flt.as_dict()})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    body = encode(iter_entries(sessions, flt, up_to), format)
    return StreamingResponse(
        body,
        media_type=FORMATS[format],
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"',
            "X-Row-Count": str(count),
        },
    )
