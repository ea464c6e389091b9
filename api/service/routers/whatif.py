"""``/whatif``: a scenario and overrides evaluated synchronously, as suppressed aggregates."""

from __future__ import annotations

import functools

import anyio
from fastapi import APIRouter, Request

from rahat.api.service import audit
from rahat.api.service.problems import problem_docs
from rahat.api.service.registry_status import require_registry
from rahat.api.service.security import RunnerPrincipal
from rahat.api.service.whatif import WhatIfOut, WhatIfRequest, WhatIfService

router = APIRouter(prefix="/whatif", tags=["whatif"])

#: What-ifs evaluated at once per process; more wait their turn (the server stays responsive).
CONCURRENT_WHATIFS = 2


def _limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter = getattr(state, "whatif_limiter", None)
    if limiter is None:
        limiter = state.whatif_limiter = anyio.CapacityLimiter(CONCURRENT_WHATIFS)
    return limiter


def _service(request: Request) -> WhatIfService:
    state = request.app.state
    service = getattr(state, "whatif_service", None)
    if service is None:
        service = state.whatif_service = WhatIfService()
    return service


@router.post(
    "",
    response_model=WhatIfOut,
    summary="Try overrides on a scenario: aggregates of both, no run",
    responses=problem_docs(400, 401, 403, 413, 422, 503),
)
async def create_whatif(
    body: WhatIfRequest, request: Request, principal: RunnerPrincipal
) -> WhatIfOut:
    """Evaluate a scenario and the scenario with ``overrides`` on the served registry.

    Answers at once (no job) with aggregates only: totals and units of both caseloads and the
    households added, dropped and kept. Figures of fewer than k households (``RAHAT_K_ANONYMITY``)
    are ``null`` for everyone but admins, as in run summaries; a what-if whose caseloads differ
    from each other, an earlier what-if or a recent run by 1 to k-1 households is refused (403).
    """
    audit.note(
        request,
        action="whatif.create",
        filter={"scenario_name": body.scenario_name, "overrides": dict(body.overrides)},
    )
    require_registry(request)  # 503 when the service has no registry (RAHAT_REGISTRY_PATH)
    work = functools.partial(
        _service(request).answer,
        request.app.state.settings,
        request.app.state.sessionmaker,
        principal,
        body,
    )
    answer = await anyio.to_thread.run_sync(work, limiter=_limiter(request))
    return WhatIfOut.model_validate(answer)
