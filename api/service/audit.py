"""Append entries to the audit log (who, when, which run, which filter, how many rows, fields)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service.models import AuditEvent
from rahat.api.service.security import Principal


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
) -> None:
    """Append one audit event in its own transaction (so it survives a failing request).

    Parameters
    ----------
    factory
        Session factory of the service database.
    principal
        Who acted.
    action
        What was done, for example ``households.export``.
    outcome
        HTTP status answered.
    run_id, agreement_id
        The run and agreement concerned, if any.
    filter
        The request's filter (units, format, paging, ...), JSON-serialisable.
    rows
        Household rows released.
    fields
        Fields released.
    """
    with factory() as session, session.begin():
        session.add(
            AuditEvent(
                organisation=principal.organisation,
                role=principal.role,
                action=action,
                outcome=outcome,
                run_id=run_id,
                agreement_id=agreement_id,
                filter=dict(filter or {}),
                rows=int(rows),
                fields=list(fields),
            )
        )
