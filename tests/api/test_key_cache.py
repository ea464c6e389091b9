"""The API key cache (issue 12, item 6): few key lookups, revocation within the TTL.

A resolved key is trusted for ``RAHAT_KEY_CACHE_SECONDS``; a change made by another process
(``rahat key revoke`` from the command line, an organisation's role changed in the database)
takes effect within that time, a change made through this process at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import backends, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from rahat.api.service.admin import add_organisation, create_key, revoke_key
from rahat.api.service.app import create_app
from rahat.api.service.models import ApiKey, Organisation, utcnow
from rahat.api.service.security import _CACHES, hash_token, install_key_cache

TTL = 2.0


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Keyed:
    """A started app with one agency key, a fake-clock key cache and a key-query counter."""

    def __init__(self, root: Path, backend: str, ttl: float) -> None:
        self.app = create_app(make_settings(root, backend, key_cache_seconds=ttl))
        self.clock = FakeClock()
        self.lookups = 0
        self.cache = install_key_cache(self.app.state.engine, ttl, self.clock)
        event.listen(self.app.state.engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM api_keys" in statement:
            self.lookups += 1

    def get(self, client: TestClient, token: str, url: str = "/runs") -> int:
        return client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code

    def change(self, statement: Any) -> None:
        """Change the database as another process would (no ORM event in this one)."""
        with self.app.state.engine.begin() as connection:
            connection.execute(statement)


@pytest.fixture(params=backends())
def keyed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Keyed, TestClient, str]]:
    """A :class:`Keyed` app with a client and the agency's token."""
    keyed = Keyed(tmp_path, request.param, TTL)
    with TestClient(keyed.app) as client:
        with keyed.app.state.sessionmaker() as session, session.begin():
            add_organisation(session, "agency", "agency")
            token, _ = create_key(session, "agency")
        yield keyed, client, token
    _CACHES.pop(keyed.app.state.engine, None)


def test_cached_lookups_do_not_query_the_database(keyed: tuple[Keyed, TestClient, str]) -> None:
    app, client, token = keyed
    assert app.get(client, token) == 200
    assert app.lookups == 1
    for _ in range(5):
        assert app.get(client, token) == 200
    assert app.lookups == 1
    app.clock.now += TTL  # expired: asked again
    assert app.get(client, token) == 200
    assert app.lookups == 2


def test_zero_ttl_switches_the_cache_off(tmp_path: Path) -> None:
    keyed = Keyed(tmp_path, "sqlite", 0)
    with TestClient(keyed.app) as client:
        with keyed.app.state.sessionmaker() as session, session.begin():
            add_organisation(session, "agency", "agency")
            token, _ = create_key(session, "agency")
        for _ in range(3):
            assert keyed.get(client, token) == 200
    assert keyed.lookups == 3
    assert keyed.cache.ttl == 0 and not keyed.cache._entries
    _CACHES.pop(keyed.app.state.engine, None)


def test_cache_keeps_the_principal_not_the_token(keyed: tuple[Keyed, TestClient, str]) -> None:
    app, client, token = keyed
    assert app.get(client, token) == 200
    entries = app.cache._entries
    assert list(entries) == [hash_token(token)]
    assert token not in repr(entries)


def test_revocation_by_another_process_takes_effect_within_the_ttl(
    keyed: tuple[Keyed, TestClient, str],
) -> None:
    app, client, token = keyed
    assert app.get(client, token) == 200
    app.change(update(ApiKey).values(revoked_at=utcnow()))
    app.clock.now += TTL - 0.5
    assert app.get(client, token) == 200  # still trusted: the documented bound
    app.clock.now += 0.5
    assert app.get(client, token) == 401
    app.clock.now += 100
    assert app.get(client, token) == 401  # refusals are never cached as successes


def test_role_change_by_another_process_takes_effect_within_the_ttl(
    keyed: tuple[Keyed, TestClient, str],
) -> None:
    app, client, token = keyed
    url = "/runs/compare"

    def compare() -> int:
        body = {"run_a": "x", "run_b": "y", "level": "district"}
        headers = {"Authorization": f"Bearer {token}"}
        return client.post(url, json=body, headers=headers).status_code

    assert compare() == 404  # an agency may compare; the runs do not exist
    app.change(update(Organisation).values(role="ngo"))
    assert compare() == 404
    app.clock.now += TTL
    assert compare() == 403  # NGOs may not compare


def test_revocation_in_this_process_takes_effect_at_once(
    keyed: tuple[Keyed, TestClient, str],
) -> None:
    app, client, token = keyed
    assert app.get(client, token) == 200
    assert len(app.cache._entries) == 1
    with app.app.state.sessionmaker() as session, session.begin():
        revoke_key(session, token)
    assert not app.cache._entries  # cleared at the commit
    assert app.get(client, token) == 401
