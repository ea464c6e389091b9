"""Administration of organisations, API keys and agreements (used by the ``rahat`` CLI)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rahat.api.service.enums import Role
from rahat.api.service.models import Agreement, ApiKey, Organisation, utcnow
from rahat.api.service.policy import validate_agreement_terms
from rahat.api.service.security import generate_token
from rahat.geo.errors import InputError

#: Longest organisation name (the column's length) and agreement purpose, in characters.
MAX_NAME_LENGTH = 200
MAX_PURPOSE_LENGTH = 2_000


def add_organisation(session: Session, name: str, role: str) -> Organisation:
    """Create an organisation with ``role`` (one of admin, agency, planner, ngo)."""
    role = Role.parse(role, "role")
    name = name.strip()
    if not name:
        raise InputError("the organisation needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(
            f"the organisation name has {len(name):,} characters; use at most {MAX_NAME_LENGTH}"
        )
    if session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise InputError(f"organisation '{name}' already exists")
    org = Organisation(name=name, role=role)
    session.add(org)
    session.flush()
    return org


def get_organisation(session: Session, name: str) -> Organisation:
    """Return the organisation called ``name``."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise InputError(f"no organisation named '{name}'; create it with 'rahat org add'")
    return org


def list_organisations(session: Session) -> list[Organisation]:
    """All organisations, by name."""
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def create_key(session: Session, organisation: str) -> tuple[str, str]:
    """Create an API key for ``organisation``.

    Returns
    -------
    tuple of str
        ``(token, prefix)``. The token is shown once and only its hash is stored; the prefix
        identifies the key for ``revoke_key``.
    """
    org = get_organisation(session, organisation)
    token, prefix, digest = generate_token()
    session.add(ApiKey(organisation_id=org.id, prefix=prefix, token_sha256=digest))
    session.flush()
    return token, prefix


def revoke_key(session: Session, prefix: str) -> ApiKey:
    """Revoke the key whose lookup prefix is ``prefix`` (the full token works too)."""
    from rahat.api.service.security import token_prefix

    key = session.scalar(select(ApiKey).where(ApiKey.prefix == token_prefix(prefix.strip())))
    if key is None:
        raise InputError(f"no API key with prefix '{prefix}'")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    return key


def add_agreement(
    session: Session,
    organisation: str,
    *,
    units: Sequence[str],
    fields: Sequence[str],
    purpose: str,
    valid_to: dt.date,
    valid_from: dt.date | None = None,
    max_rows: int = 10_000,
) -> Agreement:
    """Record a data-sharing agreement with an NGO.

    Parameters
    ----------
    session
        Open database session (the caller commits).
    organisation
        Name of an organisation with role ``ngo``.
    units
        Admin units covered, as ``level:code`` (``district:PK703``), a code, or a name that
        fits exactly one unit (``district:Dadu``); stored as ``level:code``. Unknown and
        ambiguous names are refused with the candidates.
    fields
        Caseload fields the NGO may receive (``*`` patterns allowed), each checked against the
        caseload schema. Household ids are
        released as a per-agreement pseudonym unless ``household_id`` is listed.
    purpose
        What the data may be used for.
    valid_to, valid_from
        Validity, both days inclusive; ``valid_from`` defaults to today.
    max_rows
        Most household rows per request.
    """
    org = get_organisation(session, organisation)
    if org.role != Role.NGO:
        raise InputError(
            f"organisation '{organisation}' has role '{org.role}'; agreements are for NGOs"
        )
    valid_from = valid_from or dt.datetime.now(dt.UTC).date()
    units = [u.strip() for u in units if u.strip()]
    fields = [f.strip() for f in fields if f.strip()]
    resolved = validate_agreement_terms(units, fields, valid_from, valid_to, max_rows)
    if not purpose.strip():
        raise InputError("an agreement must state its purpose")
    if len(purpose.strip()) > MAX_PURPOSE_LENGTH:
        raise InputError(
            f"the purpose has {len(purpose.strip()):,} characters; use at most "
            f"{MAX_PURPOSE_LENGTH:,}"
        )
    agreement = Agreement(
        organisation_id=org.id,
        admin_units=[unit.ref for unit in resolved],
        fields=fields,
        purpose=purpose.strip(),
        valid_from=valid_from,
        valid_to=valid_to,
        max_rows=max_rows,
        pseudonym_key=secrets.token_hex(32),
    )
    session.add(agreement)
    session.flush()
    return agreement


def list_agreements(session: Session, organisation: str | None = None) -> list[Agreement]:
    """Agreements, optionally of one organisation."""
    query = select(Agreement).order_by(Agreement.id)
    if organisation is not None:
        query = query.where(Agreement.organisation_id == get_organisation(session, organisation).id)
    return list(session.scalars(query))
