"""What the planners' page needs besides figures: who am I, the scenarios and their controls."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from rahat.api.service.deps import AuditDep, SessionDep, SettingsDep
from rahat.api.service.page_api import named_scenarios, public_manifest, variant_yaml, whoami
from rahat.api.service.problems import problem_docs
from rahat.api.service.routers.runs import RunId
from rahat.api.service.security import CurrentPrincipal, ReaderPrincipal, RunnerPrincipal
from rahat.api.service.whatif import WhatIfRequest
from rahat.geo.errors import NotFoundError, ScenarioError

router = APIRouter(tags=["page"])


class AgreementOut(BaseModel):
    """The data-sharing agreement an NGO is served under today."""

    id: int
    units: list[str]
    fields: list[str]
    valid_from: str
    valid_to: str
    purpose: str


class MeOut(BaseModel):
    """The caller: organisation, role, the page's views the role may open, its agreement."""

    organisation: str
    role: str
    views: list[str] = Field(description="Views of the page this role may open.")
    agreement: AgreementOut | None = Field(description="NGOs: today's agreement, if any.")
    today: str


class ControlOut(BaseModel):
    """One what-if control: the override key, its value and how the page edits it."""

    key: str = Field(description="Override key for POST /whatif.")
    label: str
    kind: str = Field(description="range, number or select.")
    value: float | int | str | None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: list[str] | None = None


class ScenarioOut(BaseModel):
    """A scenario file of the server, with its what-if controls."""

    name: str
    title: str | None = None
    description: str | None = None
    problem: str | None = None
    controls: list[ControlOut]


@router.get("/me", response_model=MeOut, responses=problem_docs(401))
def me(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the API key belongs to, its role and what the page may show it."""
    return whoami(session, principal)


@router.get("/scenarios", response_model=list[ScenarioOut], responses=problem_docs(401, 403))
async def list_scenarios(settings: SettingsDep, principal: RunnerPrincipal) -> Any:
    """The server's scenario files (``RAHAT_SCENARIOS_DIR``) and the controls of each."""
    return await anyio.to_thread.run_sync(named_scenarios, settings)


@router.post(
    "/whatif/scenario.yaml",
    summary="A named scenario with overrides, as a scenario file to save",
    responses={200: {"content": {"application/yaml": {}}}, **problem_docs(400, 401, 403, 422)},
)
def save_whatif_scenario(
    body: WhatIfRequest, settings: SettingsDep, audit: AuditDep, principal: RunnerPrincipal
) -> Response:
    """The scenario of a what-if (by name) with its overrides, as YAML (nothing is stored)."""
    audit.add(
        action="whatif.scenario",
        filter={"scenario_name": body.scenario_name, "overrides": dict(body.overrides)},
    )
    if body.scenario_name is None:
        raise ScenarioError("save a what-if of a named scenario (scenario_name)")
    text = variant_yaml(settings, body.scenario_name, dict(body.overrides))
    stem = body.scenario_name.rsplit(".", 1)[0]
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{stem}_whatif.yaml"'},
    )


@router.get(
    "/runs/{run_id}/manifest",
    summary="Provenance of a finished run: versions and hashes",
    responses=problem_docs(401, 403, 404, 409),
)
def run_manifest(
    run_id: RunId, session: SessionDep, settings: SettingsDep, principal: ReaderPrincipal
) -> dict[str, Any]:
    """The scenario, registry, hazard and output hashes of a finished run (no paths, no figures)."""
    import json

    from rahat.api.service import run_requests

    run_dir = run_requests.figures_dir(session, principal, run_id, settings)
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFoundError(f"Run '{run_id}' has no readable manifest.") from None
    return public_manifest(manifest)
