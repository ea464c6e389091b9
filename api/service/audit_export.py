"""Read and export the audit log (filters, paged iteration, CSV and JSON Lines)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from rahat.api.service.enums import AuditFormat
from rahat.api.service.models import AuditEvent
from rahat.api.service.schemas import AuditOut
from rahat.geo.errors import InputError

#: Export formats and their media types.
FORMATS: dict[AuditFormat, str] = {
    AuditFormat.CSV: "text/csv",
    AuditFormat.JSONL: "application/x-ndjson",
}
#: Columns of an export, in order (those of ``GET /audit``).
COLUMNS: tuple[str, ...] = tuple(AuditOut.model_fields)
#: Entries read from the database per round trip while exporting.
PAGE = 1000

_Q = TypeVar("_Q", bound=Select[Any])


def as_utc(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """Return ``value`` in UTC (naive values are taken as UTC).

    Raises
    ------
    rahat.geo.errors.InputError
        If the instant cannot be expressed in UTC (out of range).
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"{name}: {value.isoformat()} is out of range") from None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read: by run, organisation, action and time (``since <= at < until``)."""

    run_id: str | None = None
    organisation: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", as_utc(self.since, "since"))
        object.__setattr__(self, "until", as_utc(self.until, "until"))

    def apply(self, query: _Q) -> _Q:
        """Add this filter's conditions to ``query`` (a select over :class:`AuditEvent`)."""
        if self.run_id is not None:
            query = query.where(AuditEvent.run_id == self.run_id)
        if self.organisation is not None:
            query = query.where(AuditEvent.organisation == self.organisation)
        if self.action is not None:
            query = query.where(AuditEvent.action == self.action)
        if self.since is not None:
            query = query.where(AuditEvent.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEvent.at < self.until)
        return query

    def as_dict(self) -> dict[str, Any]:
        """The filter as JSON-serialisable values (unset ones left out)."""
        return {
            k: v.isoformat() if isinstance(v, dt.datetime) else v
            for k, v in asdict(self).items()
            if v is not None
        }


def snapshot(session: Session, flt: AuditFilter) -> tuple[int, int]:
    """Return ``(last id, matching entries)`` now: an export stops at that id."""
    last = session.scalar(select(func.max(AuditEvent.id))) or 0
    count = session.scalar(
        flt.apply(select(func.count()).select_from(AuditEvent)).where(AuditEvent.id <= last)
    )
    return int(last), int(count or 0)


def iter_entries(
    factory: sessionmaker[Session], flt: AuditFilter, up_to: int, page: int = PAGE
) -> Iterator[dict[str, Any]]:
    """Yield matching entries with ids up to ``up_to``, oldest first, as JSON-ready dicts.

    Each page is read in its own short session (keyset paging on the id), so a long export
    holds no transaction open.
    """
    last = 0
    while True:
        with factory() as session:
            rows = session.scalars(
                flt.apply(select(AuditEvent))
                .where(AuditEvent.id > last, AuditEvent.id <= up_to)
                .order_by(AuditEvent.id)
                .limit(page)
            ).all()
            batch = [AuditOut.model_validate(e).model_dump(mode="json") for e in rows]
        if not batch:
            return
        yield from batch
        last = int(batch[-1]["id"])


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value


def to_csv(entries: Iterable[dict[str, Any]], batch: int = 500) -> Iterator[bytes]:
    """Encode entries as CSV (UTF-8, header first; ``filter`` and ``fields`` as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, entry in enumerate(entries, start=1):
        writer.writerow([_cell(entry.get(c)) for c in COLUMNS])
        if n % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def to_jsonl(entries: Iterable[dict[str, Any]], batch: int = 500) -> Iterator[bytes]:
    """Encode entries as JSON Lines (one object per line, UTF-8)."""
    lines: list[str] = []
    for entry in entries:
        lines.append(json.dumps(entry, ensure_ascii=False) + "\n")
        if len(lines) >= batch:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def encode(entries: Iterable[dict[str, Any]], fmt: str) -> Iterator[bytes]:
    """Encode entries in ``fmt`` (an :class:`~rahat.api.service.enums.AuditFormat`)."""
    return to_csv(entries) if fmt == AuditFormat.CSV else to_jsonl(entries)
