"""Relational metadata of the service: organisations, keys, agreements, hazards, runs, audit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.schema import DDL

from rahat.api.service.enums import GrievanceStatus, RunStatus


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """Return a fresh random identifier (32 hex digits)."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamp stored as naive UTC, returned timezone-aware (same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Convert to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Mark stored naive UTC as UTC."""
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of all service tables."""


class Organisation(Base):
    """An organisation using the API, with exactly one role."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="organisation")
    agreements: Mapped[list[Agreement]] = relationship(back_populates="organisation")


class ApiKey(Base):
    """An API key: only the SHA-256 of the token is stored, with a prefix to look it up."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    organisation: Mapped[Organisation] = relationship(back_populates="keys")


class Agreement(Base):
    """A data-sharing agreement under which an NGO may list households."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    admin_units: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    max_rows: Mapped[int] = mapped_column(Integer)
    #: Key of the per-agreement pseudonyms (``household_ref``); never shown.
    pseudonym_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="agreements")


class Hazard(Base):
    """An uploaded hazard file, validated by :func:`rahat.geo.hazards.read_hazard`."""

    __tablename__ = "hazards"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(50), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    inspect: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Run(Base):
    """A scenario run executed by the worker pool; its state lives here."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scenario: Mapped[dict[str, Any]] = mapped_column(JSON)
    scenario_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    hazards: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    artifact_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Verdict of :mod:`rahat.api.service.guard` (``{"withheld": bool, "close_to": id}``);
    #: ``None`` for runs not checked (not succeeded, or older than the guard): not withheld.
    guard: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Blocks added to the run's manifest (the state of the trigger that started it).
    manifest_extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RunShare(Base):
    """A run published by an agency to the NGOs of one data-sharing agreement (audited)."""

    __tablename__ = "run_shares"
    __table_args__ = (UniqueConstraint("run_id", "agreement_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), index=True)
    published_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TriggerRecord(Base):
    """One version of an anticipatory-action trigger sent to the API (``POST /triggers``)."""

    __tablename__ = "triggers"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), index=True)
    #: 1 for the first trigger of a name, then one more for each sent again.
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TriggerSourceFile(Base):
    """A file uploaded for one source of a trigger; the latest per source is evaluated."""

    __tablename__ = "trigger_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    trigger_id: Mapped[str] = mapped_column(ForeignKey("triggers.id"), index=True)
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    inspect: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TriggerEvaluation(Base):
    """A trigger evaluated at an as-of date: its state, and the run it started (if any)."""

    __tablename__ = "trigger_evaluations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    trigger_id: Mapped[str] = mapped_column(ForeignKey("triggers.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """One entry of the append-only audit log (updates and deletes are refused)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The caller's organisation; ``""`` when no key resolved.
    organisation: Mapped[str] = mapped_column(String(200))
    #: The caller's role; ``anonymous`` when no key resolved.
    role: Mapped[str] = mapped_column(String(20))
    #: Lookup prefix of the API key presented (never the token), if it looked like one.
    key_prefix: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    #: HTTP method (``CLI`` for the command line).
    method: Mapped[str] = mapped_column(String(10), default="")
    #: Route template, e.g. ``/runs/{run_id}/summary``; ``None`` when no route matched.
    route: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The raw request path (size-capped).
    path: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(String(50))
    outcome: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    agreement_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)


def _refuse_change(*_args: Any) -> None:
    raise PermissionError("the audit log is append-only: entries cannot be changed or deleted")


event.listen(AuditEvent, "before_update", _refuse_change)
event.listen(AuditEvent, "before_delete", _refuse_change)

# The database itself refuses changes too, whatever client touches it.
for _op in ("UPDATE", "DELETE"):
    event.listen(
        AuditEvent.__table__,
        "after_create",
        DDL(
            f"CREATE TRIGGER audit_events_no_{_op.lower()} BEFORE {_op} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        ).execute_if(dialect="sqlite"),
    )
event.listen(
    AuditEvent.__table__,
    "after_create",
    DDL(
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$; "
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();"
    ).execute_if(dialect="postgresql"),
)


class GrievanceTicket(Base):
    """A claim a person disputes, followed until it is resolved or rejected (``/grievances``).

    The claimant is known by the token of their CNIC (:mod:`rahat.geo.registry.identity`),
    never by the number itself. ``version`` guards against two changes made at once: the
    second is refused (409) instead of silently overwriting the first.
    """

    __tablename__ = "grievance_tickets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: Keyed token of the claimant's CNIC (never the CNIC).
    cnic_token: Mapped[int] = mapped_column(BigInteger, index=True)
    household_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The claim's decision and reason codes as the claimant was told them.
    decision: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: P-codes of the district and tehsil the claimant stated.
    district: Mapped[str | None] = mapped_column(String(20), nullable=True)
    tehsil: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=GrievanceStatus.OPEN, index=True)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    created_by: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: Lookup prefix of the API key that opened the ticket (never the token).
    created_by_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Whether resolving puts the household on the service's assisted-households list.
    add_to_assisted: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (read by the mapper)


class GrievanceEvent(Base):
    """One change of a grievance ticket: its opening, a status move, a reassignment, a note."""

    __tablename__ = "grievance_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("grievance_tickets.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: Lookup prefix of the actor's API key (never the token).
    actor_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: ``None`` for the event that opened the ticket.
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    from_assignee: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_assignee: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
