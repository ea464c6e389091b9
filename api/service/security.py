"""API keys (generation, hashing, lookup) and the request principal with role checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, object_session

from rahat.api.service.enums import Role
from rahat.api.service.models import Agreement, ApiKey, Organisation
from rahat.geo.errors import AccessDeniedError, UnauthenticatedError

#: Every token starts with this, so leaked keys are easy to recognise.
TOKEN_PREFIX = "rahat_"
#: Characters of the token (after :data:`TOKEN_PREFIX`) kept in clear as the lookup prefix.
LOOKUP_CHARS = 10


def generate_token() -> tuple[str, str, str]:
    """Create a new API token.

    Returns
    -------
    tuple of str
        ``(token, prefix, sha256)``: the token to hand out once, its lookup prefix and hash.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_prefix(token), hash_token(token)


def token_prefix(token: str) -> str:
    """Return the lookup prefix of ``token`` (what ``rahat key revoke`` takes)."""
    return token[: len(TOKEN_PREFIX) + LOOKUP_CHARS]


def presented_prefix(token: str) -> str | None:
    """Return the lookup prefix of a presented token, for the audit log, or ``None``.

    Only a token that looks like one of ours (it starts with :data:`TOKEN_PREFIX` and is
    longer than its prefix) gives a prefix, so the log never holds a whole secret.
    """
    prefix = token_prefix(token)
    if not token.startswith(TOKEN_PREFIX) or len(token) <= len(prefix):
        return None
    return prefix


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token`` (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organisation behind the API key and its role."""

    organisation_id: int
    organisation: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an administrator."""
        return self.role == Role.ADMIN


_bearer = HTTPBearer(auto_error=False, description="API key from `rahat key create`.")

#: Detail of the 401 answering a request without an API key.
MISSING_KEY = (
    "Missing API key: send it as 'Authorization: Bearer <token>' "
    "(an administrator creates one with 'rahat key create ORG')."
)
#: Detail of the 401 answering a request with an unknown or revoked API key.
UNKNOWN_KEY = "Unknown or revoked API key: ask an administrator for a new one."


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or ``None``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class KeyCache:
    """Principals of recently looked-up API keys, each kept for ``ttl`` seconds.

    Entries are keyed by the SHA-256 of the token (the token itself is never kept) and hold
    the resolved principal; refusals are never kept. A key revoked, or an
    organisation whose role changes, in another process (``rahat key revoke``) takes effect
    within ``ttl`` seconds; changes made through the ORM in this process clear every cache at
    once (see :func:`_forget_keys`).

    Parameters
    ----------
    ttl
        Seconds an entry is trusted; ``0`` switches the cache off.
    clock
        Monotonic clock (tests pass a fake one).
    size
        Most entries kept; the least recently used go first.
    """

    def __init__(
        self, ttl: float, clock: Callable[[], float] = time.monotonic, size: int = 4096
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.size = size
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        """The principal of ``digest`` if it was resolved less than ``ttl`` seconds ago."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if self.clock() >= entry[0]:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        """Remember the principal of ``digest`` for ``ttl`` seconds."""
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[digest] = (self.clock() + self.ttl, principal)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


#: The key cache of each database engine (see :func:`install_key_cache`).
_CACHES: weakref.WeakKeyDictionary[Engine, KeyCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def install_key_cache(
    engine: Engine, ttl: float, clock: Callable[[], float] = time.monotonic
) -> KeyCache:
    """Return the key cache of ``engine``, creating it with ``ttl`` and ``clock`` if needed.

    :func:`authenticate` uses the cache of the engine its session is bound to, whoever calls it.
    """
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = KeyCache(ttl, clock)
        return cache


def _note_key_change(_mapper: Any, _connection: Any, target: Any) -> None:
    """Mark the session that changed an API key or organisation (cleared at its commit)."""
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def _forget_keys(session: Session) -> None:
    """Clear every key cache once a session that changed keys or organisations commits."""
    if not session.info.pop(_CHANGED, False):
        return
    with _CACHES_LOCK:
        caches = list(_CACHES.values())
    for cache in caches:
        cache.clear()


_CHANGED = "rahat_api_keys_changed"
for _model in (ApiKey, Organisation):
    for _event in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _event, _note_key_change)
event.listen(Session, "after_commit", _forget_keys)


def _cache_of(session: Session) -> KeyCache | None:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    return None if engine is None else _CACHES.get(engine)


def authenticate(session: Session, token: str) -> Principal | None:
    """Return the principal owning ``token``, or ``None`` if it is unknown or revoked.

    The answer comes from the key cache of the session's engine when it is fresh there
    (:func:`install_key_cache`), so that most requests do not query the database.
    """
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    cache = _cache_of(session)
    principal = None if cache is None else cache.get(digest)
    if principal is not None:
        return principal
    principal = _lookup(session, token, digest)
    if cache is not None and principal is not None:  # refusals are not kept
        cache.put(digest, principal)
    return principal


def _lookup(session: Session, token: str, digest: str) -> Principal | None:
    row = session.execute(
        select(ApiKey, Organisation)
        .join(Organisation, ApiKey.organisation_id == Organisation.id)
        .where(ApiKey.prefix == token_prefix(token))
    ).first()
    if row is None:
        return None
    key, org = row
    if key.revoked_at is not None or not hmac.compare_digest(key.token_sha256, digest):
        return None
    return Principal(organisation_id=org.id, organisation=org.name, role=org.role)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Resolve the ``Authorization: Bearer`` API key of the request (401 if missing or bad).

    A key in the key cache is resolved without leaving the event loop; otherwise the
    database is asked in a worker thread. The key's lookup prefix and, once resolved, the
    principal are put on ``request.state`` (``key_prefix``, ``principal``) for the audit log.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError(MISSING_KEY)
    token = credentials.credentials
    request.state.key_prefix = presented_prefix(token)
    state = request.app.state
    engine = getattr(state, "engine", None)
    cache = None if engine is None else install_key_cache(engine, state.settings.key_cache_seconds)
    principal = None
    if cache is not None and token.startswith(TOKEN_PREFIX):
        principal = cache.get(hash_token(token))
    if principal is None:
        principal = await anyio.to_thread.run_sync(_authenticate_in_session, state, token)
    if principal is None:
        raise UnauthenticatedError(UNKNOWN_KEY)
    request.state.principal = principal
    return principal


def _authenticate_in_session(state: Any, token: str) -> Principal | None:
    with state.sessionmaker() as session:
        return authenticate(session, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Build a dependency that admits only ``roles`` (admins always pass), else 403."""
    allowed = {Role.ADMIN, *roles}

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise AccessDeniedError(
                f"Organisation '{principal.organisation}' has role '{principal.role}', which may "
                f"not do this; it needs one of: {', '.join(sorted(allowed))}.",
            )
        return principal

    return check


def active_agreement(
    session: Session, organisation_id: int, today: dt.date | None = None
) -> Agreement | None:
    """Return the organisation's agreement valid ``today`` (the most recently started one)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return session.scalars(
        select(Agreement)
        .where(
            Agreement.organisation_id == organisation_id,
            Agreement.valid_from <= today,
            Agreement.valid_to >= today,
        )
        .order_by(Agreement.valid_from.desc(), Agreement.id.desc())
        .limit(1)
    ).first()


AdminPrincipal = Annotated[Principal, Depends(require_roles())]
RunnerPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.PLANNER))]
UploaderPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY))]
ReaderPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.PLANNER))]
HouseholdPrincipal = Annotated[Principal, Depends(require_roles(Role.NGO))]
