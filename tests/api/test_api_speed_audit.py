"""Group commit of the audit log (issue 12): fast under load, and still never an unaudited 2xx.

Concurrent requests share one transaction (:class:`rahat.api.service.audit.AuditWriter`),
but each response is sent only once its own event is committed; an event that cannot be
written fails its own request (500), not the others of its batch.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from conftest import Service
from sqlalchemy import func, select

from rahat.api.service import audit
from rahat.api.service.models import AuditEvent

REQUESTS = 200


def _events(service: Service, path: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent)
    if path is not None:
        query = query.where(AuditEvent.path == path)
    with service.app.state.sessionmaker() as session:
        return int(session.scalar(query) or 0)


async def _many(service: Service, paths: list[str], who: str = "agency") -> list[httpx.Response]:
    """Send every path at once through the application (in this thread's event loop)."""
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=service.headers(who)
    ) as client:
        return list(await asyncio.gather(*(client.get(p) for p in paths)))


class SlowWrites:
    """Wraps :func:`audit.write`: counts transactions and events, waits before each write."""

    def __init__(self, delay: float, fail_path: str | None = None) -> None:
        self.real = audit.write
        self.delay = delay
        self.fail_path = fail_path
        self.transactions: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, factory: Any, *events: AuditEvent) -> None:
        time.sleep(self.delay)
        with self.lock:
            self.transactions.append(len(events))
        if self.fail_path is not None and any(e.path == self.fail_path for e in events):
            raise OSError("this event cannot be written")
        self.real(factory, *events)


def test_concurrent_requests_all_audited_in_shared_commits(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fresh_service
    slow = SlowWrites(delay=0.02)
    monkeypatch.setattr(audit, "write", slow)
    path = f"/runs/{s.run_id}/summary"
    before = _events(s, path)
    responses = asyncio.run(_many(s, [path] * REQUESTS))
    assert [r.status_code for r in responses] == [200] * REQUESTS
    assert _events(s, path) == before + REQUESTS
    assert sum(slow.transactions) == REQUESTS
    # group commit: far fewer transactions than events
    assert len(slow.transactions) < REQUESTS // 4, slow.transactions


def test_answer_waits_for_its_commit(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fresh_service
    monkeypatch.setattr(audit, "write", SlowWrites(delay=0.3))
    path = f"/runs/{s.run_id}"
    for n in range(1, 4):
        assert s.get("agency", path).status_code == 200
        assert _events(s, path) == n  # committed before the answer came


def test_unwritable_event_fails_only_its_request(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fresh_service
    bad = f"/runs/{s.other_run_id}"
    slow = SlowWrites(delay=0.05, fail_path=bad)
    monkeypatch.setattr(audit, "write", slow)
    good = f"/runs/{s.run_id}"
    paths = [good] * 20 + [bad] + [good] * 20
    responses = asyncio.run(_many(s, paths))
    codes = [r.status_code for r in responses]
    assert codes[20] == 500 and "audit" in responses[20].json()["detail"]
    assert codes[:20] + codes[21:] == [200] * 40
    assert max(slow.transactions) > 1  # the bad event shared a transaction with good ones
    assert _events(s, good) == 40 and _events(s, bad) == 0


def test_writer_thread_stops_when_idle_and_restarts(fresh_service: Service) -> None:
    s = fresh_service
    writer = audit.AuditWriter(s.app.state.sessionmaker, idle=0.05)
    before = _events(s)
    writer.submit(audit.event_row(organisation="", role="cli", action="test", outcome=200))
    deadline = time.monotonic() + 10
    while writer._running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    done = writer.submit(audit.event_row(organisation="", role="cli", action="test", outcome=200))
    done.result(timeout=10)
    assert _events(s) == before + 2
