"""The append-only audit log: who, when, what, with which filter, outcome, rows and fields.

Every HTTP request except the health check and the static docs is written to the log by
:class:`~rahat.api.service.audit_middleware.AuditMiddleware`, exactly once, after its status is
known. Routes do not write events themselves: they *enrich* the request's event with
:meth:`AuditNote.add` (the run and agreement concerned, the rows and fields released, a better
action name or filter). :func:`record` writes one event directly, for callers outside HTTP
(the CLI); :func:`append` queues one for the group-commit writer (:class:`AuditWriter`) and
waits until it is committed, which is how the middleware writes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
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


def write(factory: sessionmaker[Session], *events: AuditEvent) -> None:
    """Append ``events`` in one transaction of their own (so they survive a failing request)."""
    with factory() as session, session.begin():
        session.add_all(events)


class AuditWriter:
    """Group commit: one thread writes every queued event of a database in one transaction.

    A request's event is queued with :meth:`submit`; the writer thread takes everything
    queued, writes it with :func:`write` in one transaction and only then resolves the
    events' futures, so a response waiting on its future is sent only once its event is
    committed. While a commit (and its fsync) runs, the next events gather, so under load
    one commit serves many requests instead of each request queueing for its own. If a
    transaction fails, its events are written again one by one, so that only the events
    that cannot be written fail. The thread stops after ``idle`` seconds without events and
    is started again by the next one.

    Parameters
    ----------
    factory
        Session factory of the service database.
    idle
        Seconds the writer thread waits for events before it stops.
    """

    def __init__(self, factory: sessionmaker[Session], idle: float = 5.0) -> None:
        self.factory = factory
        self.idle = idle
        self._queue: list[tuple[AuditEvent, Future[None]]] = []
        self._ready = threading.Condition()
        self._running = False

    def submit(self, event: AuditEvent) -> Future[None]:
        """Queue ``event``; the future is done once it is committed (or failed)."""
        done: Future[None] = Future()
        with self._ready:
            self._queue.append((event, done))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="rahat-audit", daemon=True).start()
            self._ready.notify()
        return done

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._queue:
                    self._ready.wait(self.idle)
                if not self._queue:
                    self._running = False
                    return
                batch, self._queue = self._queue, []
            self._commit(batch)

    def _commit(self, batch: list[tuple[AuditEvent, Future[None]]]) -> None:
        try:
            write(self.factory, *(event for event, _ in batch))
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for event, done in batch:  # find the events that cannot be written
                try:
                    write(self.factory, event)
                except Exception as one:
                    done.set_exception(one)
                else:
                    done.set_result(None)
            return
        for _, done in batch:
            done.set_result(None)


_WRITERS: weakref.WeakKeyDictionary[sessionmaker[Session], AuditWriter] = (
    weakref.WeakKeyDictionary()
)
_WRITERS_LOCK = threading.Lock()


def writer_for(factory: sessionmaker[Session]) -> AuditWriter:
    """Return the group-commit writer of ``factory``, creating it on first use."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(factory)
        if writer is None:
            writer = _WRITERS[factory] = AuditWriter(factory)
        return writer


async def append(factory: sessionmaker[Session], event: AuditEvent) -> None:
    """Queue ``event`` for the group-commit writer and wait until it is committed.

    Raises what writing it raised. The event loop is never blocked: under asyncio the
    future is awaited directly, under another event loop in a worker thread.
    """
    done = writer_for(factory).submit(event)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await anyio.to_thread.run_sync(done.result)
        return
    await asyncio.wrap_future(done)


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
