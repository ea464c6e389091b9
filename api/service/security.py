"""API keys (generation, hashing, lookup) and the request principal with role checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from rahat.api.service.models import Agreement, ApiKey, Organisation

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
        return self.role == "admin"


def get_session(request: Request) -> Iterator[Session]:
    """Yield a database session for one request."""
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

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


def authenticate(session: Session, token: str) -> Principal | None:
    """Return the principal owning ``token``, or ``None`` if it is unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiKey, Organisation)
        .join(Organisation, ApiKey.organisation_id == Organisation.id)
        .where(ApiKey.prefix == token_prefix(token))
    ).first()
    if row is None:
        return None
    key, org = row
    if key.revoked_at is not None or not hmac.compare_digest(key.token_sha256, hash_token(token)):
        return None
    return Principal(organisation_id=org.id, organisation=org.name, role=org.role)


def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Resolve the ``Authorization: Bearer`` API key of the request (401 if missing or bad).

    The key's lookup prefix and, once resolved, the principal are put on ``request.state``
    (``key_prefix``, ``principal``) for the audit log.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, MISSING_KEY, headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.key_prefix = presented_prefix(credentials.credentials)
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, UNKNOWN_KEY, headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Build a dependency that admits only ``roles`` (admins always pass), else 403."""
    allowed = {"admin", *roles}

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
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
RunnerPrincipal = Annotated[Principal, Depends(require_roles("agency", "planner"))]
UploaderPrincipal = Annotated[Principal, Depends(require_roles("agency"))]
ReaderPrincipal = Annotated[Principal, Depends(require_roles("agency", "planner"))]
HouseholdPrincipal = Annotated[Principal, Depends(require_roles("ngo"))]
