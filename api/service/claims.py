"""``POST /claims``: a batch of claims ("am I on the list? why not?") decided against the registry.

The decisions are the engine's (:mod:`rahat.engine.claims`): the JSON claims are made into the
same text table a claims CSV is read as and tokenised by the same code
(:func:`rahat.engine.claims.read.claims_from_frame`), decided against the served registry's CNIC
tokens (:class:`~rahat.engine.claims.decide.RegistryIndex`, built once per registry) and, with a
``run_id``, the run's caseload. The answer uses the vocabulary of ``rahat claims check``
(:mod:`rahat.engine.claims.outputs`): per claim its ``row`` (1-based, in the order sent),
``decision``, ``reasons``, ``rank``, ``amount``, ``cut_line``, ``failed_rules`` and ``unit``; and a
summary of claims per unit and reason. No CNIC, phone or token is ever answered, logged or
audited: the raw numbers exist only while they are tokenised.

Claimants not in the registry who are probably one household under different CNICs (same
tehsil and phone, or near-identical name and address: :mod:`rahat.engine.claims.duplicates`)
share a ``duplicate_group``: a number (1, 2, ...) that only links rows of the same batch
(``null`` for a claim in no group); ``duplicate_groups`` counts the groups, the claims in them
and the groups by kind of link. Names and addresses are never answered.

What each role gets (claims are about individuals: planners, who work with aggregates, are
refused, 403, since counts of a batch of copies of one CNIC would tell its decision):

* **agency, admin**: every claim's decision with its reasons, details and duplicate group.
* **ngo**: only for batches whose every claim states its district or tehsil as a P-code lying
  in the units of the NGO's agreement in force (units matched by code at their level, never by
  name); a batch with one claim outside is refused whole (403) before anything is looked up.
  A claim whose CNIC is held by no registry household, or by one *outside* the agreement's
  units, gets one neutral answer, so that an NGO cannot tell the two apart: decision
  ``refer_to_agency`` (reasons ``refer_to_agency``, after ``duplicate_claim`` for a CNIC
  repeated in the batch, which the engine decides from the batch alone), no rank, amount,
  rule or unit of the registry, its ``unit`` the tehsil the claimant stated; the NGO should
  refer the claimant to the agency.
  Households inside the agreement show ``rank`` and ``amount`` only when selected
  (``in_caseload``) and only if the agreement grants ``rank`` (resp. ``amount`` or
  ``benefit``); ``cut_line`` and ``failed_rules`` (which quote a household's score) are never
  shown to an NGO, and ``unit`` and the ``stated_location_mismatch`` flag only if the
  agreement grants a tehsil field (else stating each tehsil in turn would find the
  household's). NGO answers carry no duplicate groups (every ``duplicate_group`` and
  ``duplicate_groups`` are ``null``): a group links claims by phone, name and address, which
  is the agency's matching, not the NGO's.

Limits: at most ``RAHAT_CLAIMS_MAX_BATCH`` claims per request (413), the JSON body limit
(``RAHAT_CLAIMS_MAX_JSON_BYTES``, 413), ``RAHAT_CLAIMS_PER_MINUTE`` calls per API key per minute
(429 with ``Retry-After``), counted from the audit log (calls answered other than 401/429), and
one call in flight per API key in the process (429, ``Retry-After: 1``: the audit rows the rate
counts are written when a response starts, so without it parallel calls would all pass).
Without a usable identity secret (``RAHAT_IDENTITY_SECRET``) the service answers 503; with a
registry that has no ``cnic_token`` column, 409.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from rahat.api.service.enums import Role
from rahat.api.service.identity_text import identity_secret
from rahat.api.service.models import AuditEvent, utcnow
from rahat.api.service.policy import Grant, agreement_grant
from rahat.geo.errors import (
    AccessDeniedError,
    ConflictError,
    RateLimitedError,
    SchemaError,
    TooLargeError,
)
from rahat.geo.units import Level, Unit, gazetteer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from rahat.api.service.audit import AuditNote
    from rahat.api.service.security import Principal
    from rahat.api.service.settings import Settings
    from rahat.engine.claims.decide import ClaimDecisions, RegistryIndex
    from rahat.engine.claims.duplicates import DuplicateGroups
    from rahat.engine.claims.read import Claims
    from rahat.engine.claims.run import RunCaseload
    from rahat.geo.registry.model import Registry

#: The route, as the audit log records it (the rate limit counts its events).
ROUTE = "/claims"
#: Window of the per-key rate limit.
WINDOW = dt.timedelta(minutes=1)

Text = Annotated[str, Field(max_length=200)]
Short = Annotated[str, Field(max_length=40)]


class ClaimIn(BaseModel):
    """One claim; only ``cnic`` is required (the columns of a claims CSV)."""

    model_config = ConfigDict(extra="forbid")

    cnic: Short = Field(description="13 digits, with or without dashes.")
    phone: Short | None = Field(default=None, description="A Pakistani number, any usual form.")
    stated_district: Text | None = Field(
        default=None, description="Stated district: P-code (NGOs must give codes) or name."
    )
    stated_tehsil: Text | None = Field(default=None, description="Stated tehsil: P-code or name.")
    lon: float | None = Field(default=None, description="WGS 84 longitude.")
    lat: float | None = Field(default=None, description="WGS 84 latitude.")
    date: Short | None = Field(default=None, description="The claim's date, YYYY-MM-DD.")
    name: Text | None = Field(default=None, description="Claimant's name (never answered).")
    address: Text | None = Field(default=None, description="Claimant's address (never answered).")


class ClaimsRequest(BaseModel):
    """A batch of claims, optionally checked against a finished run's caseload."""

    model_config = ConfigDict(extra="forbid")

    run_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="A succeeded run you may read; without one: registered or not."
    )
    claims: list[ClaimIn] = Field(min_length=1, description="The claims, in the order answered.")


class ClaimOut(BaseModel):
    """The decision of one claim (the columns of ``claims_decisions.csv``)."""

    row: int = Field(description="1-based position of the claim in the batch.")
    decision: str
    reasons: list[str] = Field(description="Reason codes, decision first.")
    rank: int | None = None
    amount: int | None = None
    cut_line: str | None = None
    failed_rules: str | None = None
    unit: str | None = Field(default=None, description="Tehsil the claim is counted under.")
    duplicate_group: int | None = Field(
        default=None,
        description="Probable household among unregistered claimants: links rows of this batch "
        "only; null when in none, and for NGOs.",
    )


class SummaryRow(BaseModel):
    """Claims of one unit carrying one reason."""

    unit: str
    reason: str
    claims: int


class GroupsOut(BaseModel):
    """Probable duplicate households among unregistered claimants."""

    groups: int = Field(description="Groups of two or more claims.")
    claims: int = Field(description="Claims in a group.")
    linked_by: dict[str, int] = Field(description="Groups per kind of link.")


class ClaimsOut(BaseModel):
    """Decisions, a summary by unit and reason, and counts."""

    claims: int
    run_id: str | None
    decisions: list[ClaimOut] = Field(description="Per claim, in the order sent.")
    summary: list[SummaryRow]
    counts: dict[str, int] = Field(description="Claims per decision.")
    reasons: dict[str, int] = Field(description="Claims per reason code.")
    rejected_fields: dict[str, int] = Field(description="Fields given but unreadable (ignored).")
    duplicate_groups: GroupsOut | None = Field(description="Counts of the groups; null for NGOs.")
    phone_velocity_threshold: int


class ClaimsRateLimitedError(RateLimitedError):
    """The API key sent too many claims batches in the last minute (429, ``Retry-After``)."""

    def __init__(self, limit: int, retry_after: float) -> None:
        super().__init__(
            f"This API key has sent {limit} claims batches in the last minute, the most allowed; "
            f"retry in {max(1, math.ceil(retry_after))} s (send more claims per batch instead).",
            retry_after=retry_after,
        )


class ClaimsBusyError(RateLimitedError):
    """The API key already has a claims batch in flight (429, ``Retry-After: 1``)."""

    def __init__(self) -> None:
        super().__init__(
            "This API key already has a claims batch being checked; send one batch at a time "
            "(retry in 1 s, or send more claims per batch).",
            retry_after=1,
        )


class InFlight:
    """API keys with a claims batch being checked in this process (one at a time per key).

    The per-minute rate counts audit events, written only when a response starts, so
    batches sent in parallel would all pass it; this set closes that gap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    @contextmanager
    def hold(self, key_prefix: str | None) -> Iterator[None]:
        """Hold ``key_prefix`` for the block; :class:`ClaimsBusyError` if already held.

        A call without a key prefix (none is known) is not held.
        """
        if key_prefix is None:
            yield
            return
        with self._lock:
            if key_prefix in self._keys:
                raise ClaimsBusyError
            self._keys.add(key_prefix)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(key_prefix)


#: The keys in flight of the service's requests.
IN_FLIGHT = InFlight()


# -- refusals before any work ---------------------------------------------------------------------
def check_claims_rate(
    session: Session,
    key_prefix: str | None,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Refuse a batch when the key sent ``claims_per_minute`` in the last minute.

    Calls are counted from the audit log (every call is recorded there before it is answered):
    ``POST /claims`` events of the key's prefix, except those refused 401 or 429.

    Raises
    ------
    ClaimsRateLimitedError
        With ``retry_after``: seconds until the oldest counted call leaves the minute.
    """
    limit = settings.claims_per_minute
    if limit <= 0 or key_prefix is None:
        return
    now = now or utcnow()
    query = select(AuditEvent.at).where(
        AuditEvent.key_prefix == key_prefix,
        AuditEvent.method == "POST",
        AuditEvent.route == ROUTE,
        AuditEvent.outcome.not_in((401, 429)),
        AuditEvent.at > now - WINDOW,
    )
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count >= limit:
        times = list(session.scalars(query.order_by(AuditEvent.at.desc()).limit(limit)))
        raise ClaimsRateLimitedError(limit, (times[-1] + WINDOW - now).total_seconds())


def check_batch_size(body: ClaimsRequest, settings: Settings) -> None:
    """Refuse (413) a batch of more than ``claims_max_batch`` claims."""
    if len(body.claims) > settings.claims_max_batch:
        raise TooLargeError(
            f"{len(body.claims):,} claims in one batch; at most {settings.claims_max_batch:,} "
            "are checked at once: split the batch"
        )


def ngo_grant(session: Session, principal: Principal) -> Grant:
    """The grant of the NGO's agreement in force; 403 without one."""
    from rahat.api.service.security import active_agreement

    agreement = active_agreement(session, principal.organisation_id)
    if agreement is None:
        raise AccessDeniedError(
            f"Organisation '{principal.organisation}' has no data-sharing agreement in force, "
            "so it may not check claims; ask the agency for one."
        )
    return agreement_grant(agreement)


def stated_unit(text: str | None, level: Level) -> Unit | None:
    """The unit a claim states at ``level`` by code, or ``None`` (a name is no code)."""
    if not text:
        return None
    unit = gazetteer().get(text)
    return unit if unit is not None and unit.level == level else None


def rows_outside(claims: Sequence[ClaimIn], units: Sequence[Unit]) -> list[int]:
    """Rows (1-based) of claims not stating a unit inside ``units`` by code.

    A claim is inside when it states a district or tehsil, every stated one is a P-code of its
    level, and each lies in one of ``units`` (the agreement's, each matched at its own level).
    """
    places = gazetteer()
    outside = []
    for row, claim in enumerate(claims, start=1):
        stated = [(claim.stated_district, Level.DISTRICT), (claim.stated_tehsil, Level.TEHSIL)]
        given = [(text.strip(), level) for text, level in stated if text and text.strip()]
        found = [stated_unit(text, level) for text, level in given]
        inside = bool(given) and all(
            unit is not None and any(places.contains(g, unit) for g in units) for unit in found
        )
        if not inside:
            outside.append(row)
    return outside


def check_ngo_batch(claims: Sequence[ClaimIn], grant: Grant) -> None:
    """Refuse a whole NGO batch (403) when a claim's stated unit lies outside the agreement.

    Decided from the claims alone, before the registry is read: the refusal says nothing of
    anyone's registration.
    """
    units = grant.units or ()
    outside = rows_outside(claims, units)
    if outside:
        shown = ", ".join(str(r) for r in outside[:10]) + (" ..." if len(outside) > 10 else "")
        covered = "; ".join(u.describe() for u in units) or "no unit"
        raise AccessDeniedError(
            f"{len(outside):,} claim(s) (rows {shown}) state no district or tehsil P-code inside "
            f"your agreement, which covers: {covered}. Nothing was checked; send only claims "
            "stating a unit of your agreement by its P-code."
        )


# -- the registry's index ---------------------------------------------------------------------
class IndexCache:
    """The sorted CNIC tokens of the registry last used (rebuilt when the registry changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[weakref.ref[Registry], RegistryIndex] | None = None

    def index(self, registry: Registry) -> RegistryIndex:
        """The index of ``registry``; 409 when it has no ``cnic_token`` column."""
        from rahat.engine.claims.decide import RegistryIndex

        with self._lock:
            if self._kept is not None and self._kept[0]() is registry:
                return self._kept[1]
        try:
            index = RegistryIndex.build(registry)
        except SchemaError:
            raise ConflictError(
                "The served registry has no CNIC tokens (no cnic_token column), so claims "
                "cannot be matched to it; import a registry with CNIC tokens and restart."
            ) from None
        with self._lock:
            self._kept = (weakref.ref(registry), index)
        return index


#: The index shared by the service's requests.
INDEXES = IndexCache()


def registered_household(registry: Registry, cnic_token: int) -> int | None:
    """The household holding ``cnic_token`` in ``registry`` (:data:`INDEXES`' index).

    ``None`` when no household holds it, or when the registry has no ``cnic_token`` column.
    A token held by two households gives the first in token order, as claims are decided.
    """
    from rahat.engine.claims.decide import CNIC_COLUMN

    if CNIC_COLUMN not in registry.frame.columns:
        return None
    index = INDEXES.index(registry)
    rows, found = index.find(np.array([cnic_token], dtype=np.int64))
    return int(index.household_id[rows[0]]) if found[0] else None


# -- deciding and answering -----------------------------------------------------------------------
def claims_frame(claims: Sequence[ClaimIn]) -> pd.DataFrame:
    """The claims as the text table a claims CSV is read as (``""`` where not given)."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    from rahat.engine.claims.read import CLAIM_COLUMNS

    records = [claim.model_dump() for claim in claims]
    return pd.DataFrame(
        {column: [text(r[column]) for r in records] for column in CLAIM_COLUMNS}, dtype=object
    )


@dataclass(frozen=True)
class Checked:
    """A decided batch with what shaping the answer needs."""

    claims: Claims
    decided: ClaimDecisions
    registry: Registry
    index: RegistryIndex
    velocity: int
    groups: DuplicateGroups | None


def decide(
    body: ClaimsRequest,
    secret: bytes,
    registry: Registry,
    caseload: RunCaseload | None,
    velocity: int,
    *,
    groups: bool = True,
) -> Checked:
    """Tokenise and decide the batch (the engine's code, as ``rahat claims check``).

    With ``groups``, the unregistered claimants are also grouped into probable households
    (:func:`rahat.engine.claims.duplicates.group_unregistered`).
    """
    from rahat.engine.claims.decide import decide_claims
    from rahat.engine.claims.duplicates import group_unregistered
    from rahat.engine.claims.read import claims_from_frame

    index = INDEXES.index(registry)
    batch = claims_from_frame(claims_frame(body.claims), secret)
    decided = decide_claims(batch, index, caseload, velocity=velocity)
    found = group_unregistered(batch, decided) if groups else None
    return Checked(batch, decided, registry, index, velocity, found)


def check_claims(
    settings: Settings,
    sessions: sessionmaker[Session],
    registry_of: Callable[[Path], Registry],
    principal: Principal,
    key_prefix: str | None,
    body: ClaimsRequest,
    note: AuditNote,
) -> dict[str, Any]:
    """Refuse, or decide a batch and shape the answer for ``principal`` (run in a thread).

    Refusals come first, in this order and before any claim is looked up: a batch of the
    same key in flight (429), the key's rate (429), the batch size (413), an NGO's agreement
    and stated units (403), the identity secret (503), the run (404, 409, 403 withheld), the
    registry (503 missing, 409 no tokens).

    Parameters
    ----------
    settings, sessions
        Service settings and the database's session factory.
    registry_of
        Returns the served registry, loaded once per process (the what-if service's).
    principal, key_prefix
        The caller and its API key's lookup prefix (the rate limit's key).
    body
        The batch.
    note
        The request's audit note: counts, run and agreement are added (never a claim's value).
    """
    from rahat.api.service import claims_views
    from rahat.api.service.access import finished_dir, readable_run
    from rahat.api.service.guard import check_figures_readable
    from rahat.api.service.registry_status import require_registry
    from rahat.engine.claims.run import load_run

    # the run is audited once found: an id sent is not kept (a CNIC pasted there would be)
    note.add(action="claims.check", filter={"claims": len(body.claims)})
    with IN_FLIGHT.hold(key_prefix):  # before the rate: parallel calls pass it
        grant: Grant | None = None
        folder: Path | None = None
        with sessions() as session:
            check_claims_rate(session, key_prefix, settings)
            check_batch_size(body, settings)
            if principal.role == Role.NGO:
                grant = ngo_grant(session, principal)
                note.add(agreement_id=grant.agreement_id)
                check_ngo_batch(body.claims, grant)
            secret = identity_secret("CNICs cannot be matched to the registry")
            if body.run_id is not None:
                run = readable_run(session, principal, body.run_id)
                note.add(run_id=run.id)
                check_figures_readable(run, principal, k=settings.k_anonymity)
                folder = finished_dir(run)
        require_registry(settings.registry_path)
        registry = registry_of(settings.registry_path)
        caseload = load_run(folder) if folder is not None else None
        velocity, ngo = settings.claims_phone_velocity, principal.role == Role.NGO
        checked = decide(body, secret, registry, caseload, velocity, groups=not ngo)
        out = claims_views.answer(checked, principal, grant, body.run_id)
        note.add(rows=len(out["decisions"]), filter={"decisions": dict(out["counts"])})
        return out
