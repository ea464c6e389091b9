"""``/grievances``: tickets of disputed claims, their history, exports and the assisted list.

What the routes do, and who sees what, is in :mod:`rahat.api.service.grievances`: agencies
(and admins) open, change, reassign and export every ticket; an NGO reads, exports and moves
only the tickets assigned to it (others answer 404); planners get 403. Every request is
audited by the audit middleware; the routes add the ticket concerned, the move made and the
rows and fields released.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rahat.api.service import grievances
from rahat.api.service.deps import AuditDep, SessionDep, SettingsDep, WhatIfServiceDep
from rahat.api.service.enums import GrievanceStatus, Role
from rahat.api.service.identity_text import identity_secret, mask_path
from rahat.api.service.models import GrievanceTicket, utcnow
from rahat.api.service.problems import problem_docs
from rahat.api.service.schemas import MAX_OFFSET
from rahat.api.service.security import Principal, UploaderPrincipal, require_roles
from rahat.geo.registry.model import Registry

router = APIRouter(prefix="/grievances", tags=["grievances"])

#: Agencies, NGOs (their assigned tickets only) and admins.
GrievancePrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.NGO))]
TicketId = Annotated[str, PathParam(max_length=64, description="Ticket id from POST /grievances.")]
#: Largest household id or organisation id accepted.
_INT64, _INT32 = 2**63 - 1, 2**31 - 1
_CODE = Annotated[str, Field(min_length=1, max_length=40)]
Note = Annotated[
    str | None,
    Field(
        max_length=2000,
        description="Free text; a CNIC or phone number in it is stored as [number removed].",
    ),
]


class GrievanceIn(BaseModel):
    """A disputed claim to open a ticket for. The CNIC is turned into its token at once."""

    model_config = ConfigDict(extra="forbid")

    cnic: str = Field(
        min_length=1,
        max_length=40,
        description="The claimant's CNIC, 13 digits with or without dashes; only its keyed "
        "token is stored, and it is never returned.",
    )
    household_id: int | None = Field(
        default=None,
        ge=1,
        le=_INT64,
        description="Optional: with a registry of CNIC tokens, the household holding the CNIC "
        "is recorded, and one given that differs is refused (409).",
    )
    decision: _CODE | None = Field(default=None, description="The decision the claimant got.")
    reasons: list[_CODE] = Field(default_factory=list, max_length=20)
    district: str | None = Field(default=None, min_length=1, max_length=100)
    tehsil: str | None = Field(default=None, min_length=1, max_length=100)
    assignee_id: int | None = Field(
        default=None, ge=1, le=_INT32, description="Agency or NGO organisation to work it."
    )
    note: Note = None


class GrievanceChange(BaseModel):
    """A change of a ticket: a status move, a note, and (agencies only) the other fields."""

    model_config = ConfigDict(extra="forbid")

    status: GrievanceStatus | None = Field(
        default=None,
        description="open -> under_review -> resolved | rejected, or open -> rejected.",
    )
    note: Note = Field(
        default=None,
        description="Required to resolve or reject; a CNIC or phone number in it is stored "
        "as [number removed].",
    )
    assignee_id: int | None = Field(default=None, ge=1, le=_INT32)
    household_id: int | None = Field(default=None, ge=1, le=_INT64)
    add_to_assisted: bool = Field(
        default=False,
        description="Put the household on the assisted list once resolved (agencies).",
    )


class GrievanceOut(BaseModel):
    """A ticket, with the fields the caller's role may see (the others are left out)."""

    id: str
    cnic_token: int | None = Field(default=None, description="Agencies and admins only.")
    household_id: int | None = Field(default=None, description="Agencies and admins only.")
    decision: str | None
    reasons: list[str]
    district: str | None
    tehsil: str | None
    status: GrievanceStatus
    assignee_id: int | None
    created_by: int
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    resolution: str | None
    add_to_assisted: bool


class GrievanceEventOut(BaseModel):
    """One change of a ticket."""

    model_config = ConfigDict(from_attributes=True)

    at: dt.datetime
    actor_id: int
    from_status: GrievanceStatus | None
    to_status: GrievanceStatus
    from_assignee: int | None
    to_assignee: int | None
    note: str | None


class GrievanceDetail(GrievanceOut):
    """A ticket and its history, oldest first."""

    history: list[GrievanceEventOut]


def _key(request: Request) -> str | None:
    return getattr(request.state, "key_prefix", None)


def _out(
    ticket: GrievanceTicket, view: grievances.View, now: dt.datetime, events: Any = None
) -> Any:
    fields = grievances.ticket_fields(ticket, view, now)
    if events is None:
        return GrievanceOut(**fields)
    history = [GrievanceEventOut.model_validate(e) for e in events]
    return GrievanceDetail(**fields, history=history)


@router.post(
    "",
    status_code=201,
    response_model=GrievanceDetail,
    summary="Open a grievance ticket for a disputed claim",
    responses=problem_docs(401, 403, 409, 413, 422, 503),
    response_model_exclude_unset=True,
)
def open_grievance(
    body: GrievanceIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    service: WhatIfServiceDep,
    principal: UploaderPrincipal,
) -> Any:
    """Open a ticket, due ``grievance_sla_days`` from now; the CNIC is kept only as a token.

    With a served registry of CNIC tokens, the household holding the CNIC is recorded (none for
    an unregistered claimant); a ``household_id`` given that is not that household is a 409
    that does not name the registry's. An invalid CNIC is a 422 (which never quotes it); a
    service without its identity secret answers 503.
    """

    def registry_of(path: Path) -> Registry:
        return service.registry(path)[0].registry

    secret = identity_secret("Grievances cannot be opened")
    token = grievances.claimant_token(body.cnic, secret)
    reasons = grievances.check_reasons(body.decision, body.reasons)
    district, tehsil = grievances.stated_units(body.district, body.tehsil)
    household = grievances.claimant_household(settings, registry_of, token, body.household_id)
    ticket = grievances.open_ticket(
        session,
        settings,
        principal,
        _key(request),
        cnic_token=token,
        household_id=household,
        decision=body.decision,
        reasons=reasons,
        district=district,
        tehsil=tehsil,
        assignee_id=body.assignee_id,
        note=body.note,
    )
    audit.add(filter={"ticket_id": ticket.id, "assignee_id": body.assignee_id})
    grievances.write_assisted_list(session, settings)
    view = grievances.view_for(principal)
    return _out(ticket, view, utcnow(), grievances.history(session, ticket.id))


@router.get(
    "",
    response_model=list[GrievanceOut],
    responses=problem_docs(401, 403, 422),
    response_model_exclude_unset=True,
)
def list_grievances(
    session: SessionDep,
    audit: AuditDep,
    principal: GrievancePrincipal,
    status: GrievanceStatus | None = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=_INT32)] = None,
    overdue: Annotated[
        bool | None, Query(description="true: open or under review past due; false: not.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Any:
    """Tickets you may see, newest first; an NGO sees only those assigned to it."""
    now = utcnow()
    query = grievances.filtered(
        grievances.visible_tickets(principal), status, assignee_id, overdue, now
    )
    rows = list(session.scalars(query.limit(limit).offset(offset)))
    view = grievances.view_for(principal)
    audit.add(rows=len(rows), fields=view.columns)
    return [_out(t, view, now) for t in rows]


@router.get(
    "/export",
    response_class=StreamingResponse,
    summary="Export the grievances you may see as CSV",
    responses={200: {"content": {"text/csv": {}}}, **problem_docs(401, 403, 422)},
)
def export_grievances(
    session: SessionDep,
    audit: AuditDep,
    principal: GrievancePrincipal,
    status: GrievanceStatus | None = None,
    assignee_id: Annotated[int | None, Query(ge=1, le=_INT32)] = None,
    overdue: bool | None = None,
) -> StreamingResponse:
    """The tickets ``GET /grievances`` would list (all of them), with your role's columns.

    No CNIC is ever in it (only agencies and admins get its token); reason codes are joined
    with ``;``.
    """
    now = utcnow()
    query = grievances.filtered(
        grievances.visible_tickets(principal), status, assignee_id, overdue, now
    )
    view = grievances.view_for(principal)
    rows = [grievances.ticket_fields(t, view, now) for t in session.scalars(query)]
    audit.add(rows=len(rows), fields=view.columns)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        grievances.csv_lines(rows, view.columns),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="grievances-{stamp}.csv"',
            "X-Row-Count": str(len(rows)),
        },
    )


@router.get(
    "/assisted.csv",
    response_class=StreamingResponse,
    summary="The assisted-households list that resolved grievances feed",
    responses={200: {"content": {"text/csv": {}}}, **problem_docs(401, 403)},
)
def assisted_list(
    session: SessionDep, audit: AuditDep, principal: UploaderPrincipal
) -> StreamingResponse:
    """Households put on the assisted list by resolved tickets (``household_id``, ``ticket_id``).

    The same list is kept as a file of the service, rewritten after every change, for a
    later run's ``eligibility.exclude.assisted_lists``.
    """
    rows = grievances.assisted_rows(session)
    audit.add(rows=len(rows), fields=["household_id", "ticket_id"])
    return StreamingResponse(
        iter([grievances.assisted_csv(rows)]),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="assisted.csv"'},
    )


@router.get(
    "/{ticket_id}",
    response_model=GrievanceDetail,
    responses=problem_docs(401, 403, 404),
    response_model_exclude_unset=True,
)
def read_grievance(
    ticket_id: TicketId, session: SessionDep, audit: AuditDep, principal: GrievancePrincipal
) -> Any:
    """One ticket and its history (404 for a ticket you may not see)."""
    audit.add(filter={"ticket_id": mask_path(ticket_id)})  # a number sent as id: {number}
    ticket = grievances.find_ticket(session, principal, ticket_id)
    view = grievances.view_for(principal)
    audit.add(rows=1, fields=view.columns)
    return _out(ticket, view, utcnow(), grievances.history(session, ticket.id))


@router.patch(
    "/{ticket_id}",
    response_model=GrievanceDetail,
    responses=problem_docs(401, 403, 404, 409, 413, 422),
    response_model_exclude_unset=True,
)
def change_grievance(
    ticket_id: TicketId,
    body: GrievanceChange,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    principal: GrievancePrincipal,
) -> Any:
    """Move a ticket's status, add a note, or (agencies) reassign it or name its household.

    Moves other than ``open -> under_review -> resolved | rejected`` and ``open -> rejected``
    are a 409, as is any change of a closed ticket; resolving or rejecting needs a ``note``.
    An NGO may move only a ticket assigned to it, and may not reassign it (403).
    """
    changes = body.model_dump(exclude_unset=True)
    audit.add(filter={"ticket_id": mask_path(ticket_id), "change": sorted(changes)})
    ticket = grievances.find_ticket(session, principal, ticket_id)
    before = (ticket.status, ticket.assignee_id)
    ticket = grievances.update_ticket(session, principal, _key(request), ticket, changes)
    audit.add(
        filter={
            "from_status": before[0],
            "to_status": ticket.status,
            "from_assignee": before[1],
            "to_assignee": ticket.assignee_id,
        }
    )
    grievances.write_assisted_list(session, settings)
    view = grievances.view_for(principal)
    return _out(ticket, view, utcnow(), grievances.history(session, ticket.id))
