"""``/whatif``: a scenario and overrides evaluated synchronously, as suppressed aggregates."""

from __future__ import annotations

import functools

import anyio
from fastapi import APIRouter

from rahat.api.service.deps import (
    AuditDep,
    SessionsDep,
    SettingsDep,
    WhatIfLimiterDep,
    WhatIfServiceDep,
)
from rahat.api.service.problems import problem_docs
from rahat.api.service.registry_status import require_registry
from rahat.api.service.security import RunnerPrincipal
from rahat.api.service.whatif import WhatIfOut, WhatIfRequest

router = APIRouter(prefix="/whatif", tags=["whatif"])


@router.post(
    "",
    response_model=WhatIfOut,
    summary="Try overrides on a scenario: aggregates of both, no run",
    responses=problem_docs(400, 401, 403, 413, 422, 503),
)
async def create_whatif(
    body: WhatIfRequest,
    settings: SettingsDep,
    sessions: SessionsDep,
    audit: AuditDep,
    service: WhatIfServiceDep,
    limiter: WhatIfLimiterDep,
    principal: RunnerPrincipal,
) -> WhatIfOut:
    """Evaluate a scenario and the scenario with ``overrides`` on the served registry.

    Answers at once (no job) with aggregates only: totals and units of both caseloads and the
    households added, dropped and kept. Figures of fewer than k households (``RAHAT_K_ANONYMITY``)
    are ``null`` for everyone but admins, as in run summaries; a what-if whose caseloads differ
    from each other, an earlier what-if or a recent run by 1 to k-1 households is refused (403).
    """
    audit.add(
        action="whatif.create",
        filter={"scenario_name": body.scenario_name, "overrides": dict(body.overrides)},
    )
    require_registry(settings.registry_path)  # 503 without a registry (RAHAT_REGISTRY_PATH)
    work = functools.partial(service.answer, settings, sessions, principal, body)
    answer = await anyio.to_thread.run_sync(work, limiter=limiter)
    return WhatIfOut.model_validate(answer)
