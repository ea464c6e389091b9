"""What the ``/grievances`` routes do, without HTTP: tickets of disputed claims and their history.

A person who disputes the answer to their claim gets a **ticket**: the token of their CNIC
(:func:`rahat.geo.registry.identity.cnic_tokens` under the deployment secret; the number itself
is never stored), the household if known (:func:`claimant_household`: when the served registry
has CNIC tokens, the household holding the claimant's token, found in the index the claims
check uses), the decision and reason codes they were told, the
district and tehsil they stated, an assignee organisation and a due time
(:attr:`~rahat.api.service.settings.Settings.grievance_sla_days` after opening). Its status
moves ``open -> under_review -> resolved | rejected`` (or ``open -> rejected``); ``resolved``
and ``rejected`` are final. Every change is a :class:`~rahat.api.service.models.GrievanceEvent`
row (the ticket's history) besides the request's audit event. Notes are free text: a CNIC or
a Pakistani phone number in one is stored as ``[number removed]``. Errors never quote what was
sent (a stated unit, a ticket id, a reason code): a claimant's number may be typed anywhere.

Who sees what:

* agencies and admins open, list, read, change, reassign and export every ticket;
* an NGO lists, reads, exports and moves only the tickets assigned to it; a ticket assigned
  elsewhere answers 404, as one that does not exist. It never sees the CNIC token nor the
  household (neither ``household_id`` nor a pseudonym, whatever its agreement grants): a
  household may have been found from the CNIC in the registry, so showing it would tell
  whether the claimant is registered. It may not reassign a ticket, name its household or put
  it on the assisted list, nor resolve a ticket the agency marked ``add_to_assisted`` (403,
  whether or not the ticket has a household);
* planners work with aggregates and get 403 on every grievance route.

A ticket resolved with ``add_to_assisted`` and a household puts the household on the
assisted-households list of the service (:func:`assisted_path`): a CSV with a
``household_id`` column, rewritten whole from the database (temporary file, then rename) after
every change, that a later run's scenario names in ``eligibility.exclude.assisted_lists``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, not_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from rahat.api.service.enums import GrievanceStatus, Role
from rahat.api.service.identity_text import scrub_numbers
from rahat.api.service.models import GrievanceEvent, GrievanceTicket, Organisation, utcnow
from rahat.api.service.policy import ID_FIELD
from rahat.api.service.security import Principal
from rahat.api.service.settings import Settings
from rahat.engine.claims.decide import CODES, FLAGS
from rahat.geo.errors import (
    AccessDeniedError,
    AmbiguousUnitError,
    ConflictError,
    InputError,
    NotFoundError,
    UnavailableError,
    UnknownUnitError,
)
from rahat.geo.files import atomic_write
from rahat.geo.registry.identity import cnic_tokens
from rahat.geo.units import Level, gazetteer

if TYPE_CHECKING:
    from rahat.geo.registry.model import Registry

S = GrievanceStatus

#: The moves a ticket's status may make; any other is refused (409).
TRANSITIONS: Mapping[GrievanceStatus, frozenset[GrievanceStatus]] = {
    S.OPEN: frozenset({S.UNDER_REVIEW, S.REJECTED}),
    S.UNDER_REVIEW: frozenset({S.RESOLVED, S.REJECTED}),
    S.RESOLVED: frozenset(),
    S.REJECTED: frozenset(),
}
#: States of a ticket still being worked (it may be overdue).
ACTIVE: tuple[GrievanceStatus, ...] = (S.OPEN, S.UNDER_REVIEW)
#: States that close a ticket, which need a resolution note.
FINAL: tuple[GrievanceStatus, ...] = (S.RESOLVED, S.REJECTED)
#: Decisions a claimant can have been told (reason codes that are not flags).
DECISION_CODES: tuple[str, ...] = tuple(c for c in CODES if c not in FLAGS)
#: Roles a ticket may be assigned to.
ASSIGNABLE: tuple[str, ...] = (Role.AGENCY, Role.NGO)
#: File name of the assisted-households list, in ``<state>/grievances/``.
ASSISTED_FILE = "assisted.csv"

_ASSISTED_LOCK = threading.Lock()


@dataclass(frozen=True)
class View:
    """What a caller may see of a ticket.

    Attributes
    ----------
    tokens
        Whether the CNIC token and the ``household_id`` are shown (agencies, admins; never
        NGOs, see the module).
    """

    tokens: bool

    @property
    def columns(self) -> tuple[str, ...]:
        """Fields of a ticket shown, in order (those of an export)."""
        ids: tuple[str, ...] = ("cnic_token", ID_FIELD) if self.tokens else ()
        return ("id", *ids, *_COMMON)


_COMMON: tuple[str, ...] = (
    "decision",
    "reasons",
    "district",
    "tehsil",
    "status",
    "assignee_id",
    "created_by",
    "created_at",
    "updated_at",
    "due_at",
    "overdue",
    "resolution",
    "add_to_assisted",
)


def view_for(principal: Principal) -> View:
    """The :class:`View` of ``principal``: an NGO sees neither token nor household."""
    return View(tokens=principal.role != Role.NGO)


def claimant_token(cnic: str, secret: bytes) -> int:
    """The token of a claimant's CNIC; :class:`InputError` (422, not quoting it) if invalid."""
    values, valid = cnic_tokens([cnic], secret)
    if not valid[0]:
        raise InputError(
            "cnic: not a valid CNIC; give the 13 digits, with or without dashes (12345-1234567-1)"
        )
    return int(values[0])


def claimant_household(
    settings: Settings,
    registry_of: Callable[[Path], Registry],
    cnic_token: int,
    given: int | None,
) -> int | None:
    """The household to record on a new ticket: the registry's for the CNIC, else ``given``.

    When the served registry exists and has a ``cnic_token`` column, the household holding
    ``cnic_token`` is looked up in the claims check's index
    (:func:`rahat.api.service.claims.registered_household`, built once per registry). Without
    a registry, without tokens, or for a claimant not in it, ``given`` is kept (``None`` if
    not given): an unregistered claimant may open a ticket.

    Raises
    ------
    rahat.geo.errors.ConflictError
        (409) When ``given`` is not the household the registry holds for the CNIC; the message
        never shows the registry's household.
    """
    from rahat.api.service.claims import registered_household
    from rahat.api.service.registry_status import require_registry

    try:
        require_registry(settings.registry_path)
    except UnavailableError:  # no registry served: nothing to look up
        return given
    found = registered_household(registry_of(settings.registry_path), cnic_token)
    if found is None:
        return given
    if given is not None and given != found:
        raise ConflictError(
            "household_id: the registry holds this CNIC under another household; check the "
            "household id, or leave it out to record the registry's household."
        )
    return found


def stated_units(district: str | None, tehsil: str | None) -> tuple[str | None, str | None]:
    """P-codes of the stated district and tehsil (a code or a unique name of its level).

    Raises
    ------
    rahat.geo.errors.InputError
        (422) For an unknown or ambiguous unit, or a tehsil outside the stated district. The
        message names the field, never what was sent (a claimant's number may be typed there).
    """
    places = gazetteer()
    found = {}
    for field, level, text in (
        ("district", Level.DISTRICT, district),
        ("tehsil", Level.TEHSIL, tehsil),
    ):
        if text is None:
            continue
        try:
            found[level] = places.resolve(text, level)
        except AmbiguousUnitError:
            raise AmbiguousUnitError(
                f"{field}: the name fits several units of Rahat's boundaries; give its P-code"
            ) from None
        except UnknownUnitError:
            raise UnknownUnitError(
                f"{field}: not a {level} Rahat knows; give its P-code or its name as in Rahat's "
                "boundaries"
            ) from None
    d, t = found.get(Level.DISTRICT), found.get(Level.TEHSIL)
    if d is not None and t is not None and not places.contains(d, t):
        raise InputError(f"tehsil: {t.describe()} is not in {d.describe()}")
    return (d.code if d else None, t.code if t else None)


def check_reasons(decision: str | None, reasons: Iterable[str]) -> list[str]:
    """Check the decision and reason codes told to the claimant; return the codes, deduplicated."""
    if decision is not None and decision not in DECISION_CODES:
        raise InputError(f"decision: unknown decision; use one of: {', '.join(DECISION_CODES)}")
    sent = list(reasons)
    out = list(dict.fromkeys(sent))
    unknown = [i for i, r in enumerate(sent, start=1) if r not in CODES]
    if unknown:  # positions, not the codes sent: a claimant's number may be typed there
        at = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise InputError(f"reasons: unknown code(s) at position {at}; use: {', '.join(CODES)}")
    return out


def check_assignee(session: Session, organisation_id: int | None) -> None:
    """Refuse (422) an assignee that is no agency or NGO organisation."""
    if organisation_id is None:
        return
    org = session.get(Organisation, organisation_id)
    if org is None or org.role not in ASSIGNABLE:
        raise InputError(
            f"assignee_id: no agency or NGO organisation with id {organisation_id}; "
            f"a ticket is assigned to one of those roles"
        )


def open_ticket(
    session: Session,
    settings: Settings,
    principal: Principal,
    key_prefix: str | None,
    *,
    cnic_token: int,
    household_id: int | None,
    decision: str | None,
    reasons: list[str],
    district: str | None,
    tehsil: str | None,
    assignee_id: int | None,
    note: str | None,
) -> GrievanceTicket:
    """Store (and commit) a new open ticket and the event that opened it.

    A CNIC or phone number in ``note`` is stored as ``[number removed]``
    (:func:`~rahat.api.service.identity_text.scrub_numbers`), as in the notes of a change.
    """
    check_assignee(session, assignee_id)
    now = utcnow()
    ticket = GrievanceTicket(
        cnic_token=cnic_token,
        household_id=household_id,
        decision=decision,
        reasons=reasons,
        district=district,
        tehsil=tehsil,
        status=S.OPEN,
        assignee_id=assignee_id,
        created_by=principal.organisation_id,
        created_by_key=key_prefix,
        created_at=now,
        updated_at=now,
        due_at=now + dt.timedelta(days=settings.grievance_sla_days),
        add_to_assisted=False,
    )
    session.add(ticket)
    session.flush()
    session.add(
        GrievanceEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=principal.organisation_id,
            actor_key=key_prefix,
            to_status=S.OPEN,
            to_assignee=assignee_id,
            note=scrub_numbers(note),
        )
    )
    session.commit()
    return ticket


def visible_tickets(principal: Principal) -> Select[Any]:
    """A query of the tickets ``principal`` may see: an NGO's are those assigned to it."""
    query = select(GrievanceTicket)
    if principal.role == Role.NGO:
        query = query.where(GrievanceTicket.assignee_id == principal.organisation_id)
    return query


def find_ticket(session: Session, principal: Principal, ticket_id: str) -> GrievanceTicket:
    """The ticket ``ticket_id`` if ``principal`` may see it, else :class:`NotFoundError`."""
    ticket = session.scalar(visible_tickets(principal).where(GrievanceTicket.id == ticket_id))
    if ticket is None:
        raise NotFoundError(  # the id is not quoted: a claimant's number may be sent as one
            "No grievance with that id (or none you may see); list them with GET /grievances."
        )
    return ticket


def filtered(
    query: Select[Any],
    status: GrievanceStatus | None,
    assignee_id: int | None,
    overdue: bool | None,
    now: dt.datetime,
) -> Select[Any]:
    """``query`` limited to a status, an assignee, and overdue (or not overdue) tickets."""
    if status is not None:
        query = query.where(GrievanceTicket.status == status)
    if assignee_id is not None:
        query = query.where(GrievanceTicket.assignee_id == assignee_id)
    if overdue is not None:
        late = and_(GrievanceTicket.status.in_(ACTIVE), GrievanceTicket.due_at < now)
        query = query.where(late if overdue else not_(late))
    return query.order_by(GrievanceTicket.created_at.desc(), GrievanceTicket.id)


def is_overdue(ticket: GrievanceTicket, now: dt.datetime) -> bool:
    """Whether ``ticket`` is still being worked past its due time."""
    return ticket.status in ACTIVE and ticket.due_at < now


def update_ticket(
    session: Session,
    principal: Principal,
    key_prefix: str | None,
    ticket: GrievanceTicket,
    changes: Mapping[str, Any],
) -> GrievanceTicket:
    """Apply a change to a ticket the caller may see, record it in its history, and commit.

    Parameters
    ----------
    changes
        The fields sent: ``status``, ``assignee_id``, ``household_id``, ``add_to_assisted``,
        ``note`` (a resolution note when the status becomes final; a CNIC or phone number in
        it is stored as ``[number removed]``).

    Raises
    ------
    rahat.geo.errors.AccessDeniedError
        (403) An NGO reassigning, naming the household or asking for the assisted list.
    rahat.geo.errors.ConflictError
        (409) A move :data:`TRANSITIONS` does not allow, a change of a closed ticket, or a
        change made meanwhile by another request.
    rahat.geo.errors.InputError
        (422) An unknown assignee; a final status without a note; the assisted list asked for
        a ticket without a household.
    """
    agency_only = sorted({"assignee_id", "household_id", "add_to_assisted"} & set(changes))
    if principal.role == Role.NGO and agency_only:
        raise AccessDeniedError(
            f"An NGO may move the status of a ticket assigned to it and add notes, not change "
            f"{', '.join(agency_only)}: ask the agency."
        )
    if (
        principal.role == Role.NGO
        and changes.get("status") == S.RESOLVED
        and ticket.add_to_assisted
    ):
        raise AccessDeniedError(
            "The agency marked this ticket to put its household on the assisted list, so only "
            "the agency may resolve it: move it to under_review, add notes, or ask the agency."
        )
    current = S(ticket.status)
    if current in FINAL:
        raise ConflictError(f"Grievance '{ticket.id}' is {current}: a closed ticket is final.")
    target = S(changes["status"]) if changes.get("status") is not None else None
    if target is not None and target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise ConflictError(
            f"Grievance '{ticket.id}' is {current}; it cannot become {target} "
            f"(allowed next: {allowed})."
        )
    note = scrub_numbers(changes.get("note"))
    if target in FINAL and not note:
        raise InputError(f"note: say why the grievance is {target} (a resolution note)")
    if "assignee_id" in changes:
        check_assignee(session, changes["assignee_id"])
    household = changes.get("household_id", ticket.household_id)
    add = changes.get("add_to_assisted", ticket.add_to_assisted)
    if target == S.RESOLVED and add and household is None:
        raise InputError(
            "add_to_assisted: the ticket has no household_id; name the household to put it on "
            "the assisted list"
        )
    now = utcnow()
    event = GrievanceEvent(
        ticket_id=ticket.id,
        at=now,
        actor_id=principal.organisation_id,
        actor_key=key_prefix,
        from_status=current,
        to_status=target or current,
        from_assignee=ticket.assignee_id,
        to_assignee=changes.get("assignee_id", ticket.assignee_id),
        note=note,
    )
    ticket.household_id, ticket.add_to_assisted = household, bool(add)
    ticket.assignee_id = event.to_assignee
    ticket.status = event.to_status
    if target in FINAL:
        ticket.resolution = note
    ticket.updated_at = now
    session.add(event)
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise ConflictError(
            f"Grievance '{ticket.id}' was changed by another request meanwhile; read it again "
            "and retry."
        ) from None
    return ticket


def history(session: Session, ticket_id: str) -> list[GrievanceEvent]:
    """The events of a ticket, oldest first."""
    return list(
        session.scalars(
            select(GrievanceEvent)
            .where(GrievanceEvent.ticket_id == ticket_id)
            .order_by(GrievanceEvent.id)
        )
    )


def ticket_fields(ticket: GrievanceTicket, view: View, now: dt.datetime) -> dict[str, Any]:
    """The fields of ``ticket`` that ``view`` shows (:attr:`View.columns`)."""
    values: dict[str, Any] = {
        "id": ticket.id,
        "cnic_token": ticket.cnic_token,
        ID_FIELD: ticket.household_id,
        "decision": ticket.decision,
        "reasons": list(ticket.reasons or []),
        "district": ticket.district,
        "tehsil": ticket.tehsil,
        "status": ticket.status,
        "assignee_id": ticket.assignee_id,
        "created_by": ticket.created_by,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "due_at": ticket.due_at,
        "overdue": is_overdue(ticket, now),
        "resolution": ticket.resolution,
        "add_to_assisted": ticket.add_to_assisted,
    }
    return {name: values[name] for name in view.columns}


def _cell(value: Any) -> str:
    """Text of a CSV cell; text a spreadsheet would run as a formula starts with ``'``."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text of ``rows`` (a header, then one line per row), in pieces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows):
        writer.writerow([_cell(row[c]) for c in columns])
        if i % 500 == 499:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def assisted_path(settings: Settings) -> Path:
    """The assisted-households list the service keeps: ``<state>/grievances/assisted.csv``."""
    return settings.state_dir / "grievances" / ASSISTED_FILE


def assisted_rows(session: Session) -> list[tuple[int, str]]:
    """``(household_id, ticket id)`` of each resolved ticket that adds its household."""
    rows = session.execute(
        select(GrievanceTicket.household_id, GrievanceTicket.id)
        .where(
            GrievanceTicket.status == S.RESOLVED,
            GrievanceTicket.add_to_assisted.is_(True),
            GrievanceTicket.household_id.is_not(None),
        )
        .order_by(GrievanceTicket.household_id, GrievanceTicket.id)
    )
    return [(int(hid), str(tid)) for hid, tid in rows if hid is not None]


def assisted_csv(rows: Iterable[tuple[int, str]]) -> str:
    """The assisted list as CSV text: ``household_id`` and the ``ticket_id`` that added it."""
    return "".join(csv_lines(({ID_FIELD: h, "ticket_id": t} for h, t in rows), _ASSISTED_COLS))


_ASSISTED_COLS = (ID_FIELD, "ticket_id")


def write_assisted_list(session: Session, settings: Settings) -> Path:
    """Rewrite the assisted list from the database (temporary file, then rename).

    Called after each committed change; reading and writing happen under one lock, so the
    last file written holds every change committed before it (in this process).
    """
    path = assisted_path(settings)
    with _ASSISTED_LOCK:
        text = assisted_csv(assisted_rows(session))
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
