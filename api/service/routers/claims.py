"""``/claims``: a batch of claims decided against the served registry (:mod:`..claims`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request

from rahat.api.service.claims import ClaimsOut, ClaimsRequest, check_claims
from rahat.api.service.deps import AuditDep, SessionsDep, SettingsDep, WhatIfServiceDep
from rahat.api.service.enums import Role
from rahat.api.service.problems import problem_docs
from rahat.api.service.security import Principal, require_roles
from rahat.geo.registry.model import Registry

router = APIRouter(prefix="/claims", tags=["claims"])

#: Agencies and NGOs (inside their agreement); admins always. Planners are refused (403):
#: claims are about individuals, and a batch's counts would tell one claimant's decision.
ClaimsPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.NGO))]


@router.post(
    "",
    response_model=ClaimsOut,
    summary="Check a batch of claims: one decision and its reasons per claim",
    responses=problem_docs(400, 401, 403, 404, 409, 413, 422, 429, 503),
)
async def check(
    body: ClaimsRequest,
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    audit: AuditDep,
    service: WhatIfServiceDep,
    principal: ClaimsPrincipal,
) -> ClaimsOut:
    """Decide each claim ("am I on the list? why not?") against the served registry.

    Each claim gets a decision and reason codes as ``rahat claims check`` gives them
    (``in_caseload`` with rank and amount, ``eligible_not_selected`` with the cut line,
    ``registered_not_eligible`` with the failed rules, ``registered_outside_footprint``,
    ``not_registered_in_footprint``, ``not_registered_outside_footprint``, ``invalid_cnic``,
    ``duplicate_claim``; without ``run_id`` only ``registered`` / ``not_registered``; flags
    ``stated_location_mismatch`` and ``phone_velocity``), and a summary by unit and reason.
    Unregistered claimants who are probably one household share a ``duplicate_group`` (it
    links rows of this batch only), counted in ``duplicate_groups``. No CNIC or phone is ever
    answered or recorded.

    Agencies see every decision; NGOs only claims stating a unit of their agreement by P-code
    (else the batch is refused, 403), the one neutral ``refer_to_agency`` for a CNIC held by
    no household inside their agreement (whether registered elsewhere or not at all), the
    unit and ``stated_location_mismatch`` only if their agreement grants a tehsil field, and
    no duplicate groups. Planners are refused (403): claims are about individuals. At most
    ``RAHAT_CLAIMS_MAX_BATCH`` claims per batch (413), ``RAHAT_CLAIMS_PER_MINUTE`` calls per
    key per minute and one call in flight per key (429, ``Retry-After``).
    """

    def registry_of(path: Path) -> Registry:
        return service.registry(path)[0].registry

    prefix = getattr(request.state, "key_prefix", None)
    work = functools.partial(
        check_claims, settings, sessions, registry_of, principal, prefix, body, audit
    )
    return ClaimsOut.model_validate(await anyio.to_thread.run_sync(work))
