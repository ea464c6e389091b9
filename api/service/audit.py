"""The append-only audit log: who, when, what, with which filter, outcome, rows and fields.

Every HTTP request except the health check and the static docs is written to the log by
:class:`~rahat.api.service.audit_middleware.AuditMiddleware`, exactly once, after its status is
known. Routes do not write events themselves: they *enrich* the request's event with
:meth:`AuditNote.add` (the run and agreement concerned, the rows and fields released, a better
action name or filter). :func:`record` writes one event directly, for callers outside HTTP
(the CLI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service.models import AuditEvent, utcnow
from rahat.api.service.security import TOKEN_PREFIX, Principal, presented_prefix

#: Name of the :attr:`starlette.requests.Request.state` attribute holding the request's notes.
STATE_KEY = "audit"
#: Most query parameters (or filter keys) kept per event; the rest are counted, not kept.
MAX_FILTER_KEYS = 64
#: Most items kept of one list value.
MAX_LIST_ITEMS = 100
#: Longest string value (or key) kept; longer ones are cut and marked with an ellipsis.
MAX_TEXT = 500
#: Longest raw path kept.
MAX_PATH = 2000
#: Column sizes of :class:`~rahat.api.service.models.AuditEvent`.
_ACTION_CHARS, _RUN_ID_CHARS, _ROUTE_CHARS, _ORG_CHARS = 50, 32, 200, 200


@dataclass
class AuditNote:
    """What a route adds to its request's audit event (``None``: keep the default).

    Routes receive the note of their request as a dependency
    (:data:`rahat.api.service.deps.AuditDep`) and enrich it with :meth:`add`.
    """

    action: str | None = None
    run_id: str | None = None
    agreement_id: int | None = None
    filter: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None
    fields: list[str] | None = None

    def add(
        self,
        *,
        action: str | None = None,
        run_id: str | None = None,
        agreement_id: int | None = None,
        filter: Mapping[str, Any] | None = None,
        rows: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        """Enrich the audit event that the middleware writes for the request.

        Values given replace earlier ones, except ``filter``, which is merged into the
        request's query parameters (a key given here wins). Safe to call from a worker thread.

        Parameters
        ----------
        action
            What is being done, for example ``households.export`` (default: derived from the
            route, see :func:`rahat.api.service.audit_middleware.action_for`).
        run_id, agreement_id
            The run and data-sharing agreement concerned.
        filter
            The request's filter as the route understood it (units, format, paging, ...),
            JSON-serialisable.
        rows
            Household rows (or log entries) released.
        fields
            Fields released.
        """
        if action is not None:
            self.action = action
        if run_id is not None:
            self.run_id = run_id
        if agreement_id is not None:
            self.agreement_id = agreement_id
        if filter is not None:
            self.filter.update(filter)
        if rows is not None:
            self.rows = int(rows)
        if fields is not None:
            self.fields = [str(f) for f in fields]


def notes_of(request: Request) -> AuditNote:
    """Return the :class:`AuditNote` of ``request``, creating it on first use."""
    note_ = getattr(request.state, STATE_KEY, None)
    if not isinstance(note_, AuditNote):
        note_ = AuditNote()
        setattr(request.state, STATE_KEY, note_)
    return note_


def cap_text(value: str, limit: int = MAX_TEXT) -> str:
    """Cut ``value`` to ``limit`` characters (marking the cut) and hide anything token-like.

    A string that starts like an API token keeps only its lookup prefix, so a key sent in the
    wrong place (a query parameter, a path) never reaches the log.
    """
    if value.startswith(TOKEN_PREFIX):
        prefix = presented_prefix(value)
        if prefix is not None:
            value = prefix + "…"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def cap_value(value: Any, depth: int = 0) -> Any:
    """Return a size-capped, JSON-serialisable copy of a filter value."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return cap_text(value)
    if depth >= 4:
        return cap_text(str(value))
    if isinstance(value, Mapping):
        return cap_filter(value, depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        kept = [cap_value(v, depth + 1) for v in items[:MAX_LIST_ITEMS]]
        if len(items) > MAX_LIST_ITEMS:
            kept.append(f"… {len(items) - MAX_LIST_ITEMS} more")
        return kept
    return cap_text(str(value))


def cap_filter(values: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """Return a size-capped copy of a filter mapping (keys and values cut, none silently lost).

    Keys beyond :data:`MAX_FILTER_KEYS` are not kept; their number is recorded under
    ``"…"``.
    """
    items = list(values.items())
    out = {cap_text(str(k), 100): cap_value(v, depth) for k, v in items[:MAX_FILTER_KEYS]}
    if len(items) > MAX_FILTER_KEYS:
        out["…"] = f"{len(items) - MAX_FILTER_KEYS} more key(s) not kept"
    return out


def event_row(
    *,
    organisation: str,
    role: str,
    action: str,
    outcome: int,
    key_prefix: str | None = None,
    method: str = "",
    route: str | None = None,
    path: str = "",
    run_id: str | None = None,
    agreement_id: int | None = None,
    filter: Mapping[str, Any] | None = None,
    rows: int = 0,
    fields: Sequence[str] = (),
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Build one (unsaved) audit event, with every value cut to its column's size."""
    return AuditEvent(
        at=at or utcnow(),
        organisation=organisation[:_ORG_CHARS],
        role=role[:20],
        key_prefix=key_prefix[:32] if key_prefix else None,
        method=method[:10],
        route=route[:_ROUTE_CHARS] if route else None,
        path=cap_text(path, MAX_PATH),
        action=action[:_ACTION_CHARS],
        outcome=int(outcome),
        run_id=run_id if run_id and len(run_id) <= _RUN_ID_CHARS else None,
        agreement_id=agreement_id,
        filter=cap_filter(filter or {}),
        rows=int(rows),
        fields=[cap_text(str(f), 200) for f in list(fields)[:1000]],
    )


def write(factory: sessionmaker[Session], event: AuditEvent) -> None:
    """Append ``event`` in its own transaction (so it survives a failing request)."""
    with factory() as session, session.begin():
        session.add(event)


def record(
    factory: sessionmaker[Session],
    principal: Principal,
    action: str,
    outcome: int,
    *,
    run_id: str | None = None,
    agreement_id: int | None = None,
    filter: dict[str, Any] | None = None,
    rows: int = 0,
    fields: Sequence[str] = (),
    method: str = "",
    path: str = "",
) -> None:
    """Append one audit event directly (for callers outside HTTP, such as the CLI).

    HTTP requests are recorded by the audit middleware; routes use :meth:`AuditNote.add`
    instead.

    Parameters
    ----------
    factory
        Session factory of the service database.
    principal
        Who acted.
    action
        What was done, for example ``audit.export``.
    outcome
        Outcome as an HTTP status (200: done).
    run_id, agreement_id
        The run and agreement concerned, if any.
    filter
        The filter used, JSON-serialisable.
    rows
        Household rows (or entries) released.
    fields
        Fields released.
    method, path
        How the action was invoked (for the CLI: ``CLI`` and the command).
    """
    write(
        factory,
        event_row(
            organisation=principal.organisation,
            role=principal.role,
            action=action,
            outcome=outcome,
            method=method,
            path=path,
            run_id=run_id,
            agreement_id=agreement_id,
            filter=filter,
            rows=rows,
            fields=fields,
        ),
    )
