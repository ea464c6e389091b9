"""``GET /runs/{run_id}/brief.html``: the printable brief of a run, for agencies and planners.

The brief (:mod:`rahat.api.service.brief`) shows the run's figures as the caller may see them:
blanked below k for everyone but admins. Its map is always the aggregate district map of
non-admins (:func:`rahat.api.service.maps.aggregate_map`): no brief shows a household.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from rahat.api.service import access, run_requests
from rahat.api.service.brief import (
    BriefOptions,
    ScenarioText,
    read_manifest,
    render_brief,
)
from rahat.api.service.deps import SessionDep, SettingsDep
from rahat.api.service.maps import aggregate_map
from rahat.api.service.problems import problem_docs
from rahat.api.service.routers.runs import RunId
from rahat.api.service.security import ReaderPrincipal

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get(
    "/{run_id}/brief.html",
    response_class=HTMLResponse,
    summary="The printable brief of a run",
    responses={200: {"content": {"text/html": {}}}, **problem_docs(401, 403, 404, 409)},
)
def get_brief(
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderPrincipal,
    level: Literal["district", "tehsil"] = "district",
    grouping: Literal["intl", "pk"] = "intl",
) -> HTMLResponse:
    """One self-contained HTML page: scenario in words, totals, map, tables, cut line, hashes.

    Print it from the browser for a PDF. Figures describing fewer than k households
    (``RAHAT_K_ANONYMITY``) are withheld for everyone but admins.
    """
    run_dir = run_requests.figures_dir(session, principal, run_id, settings)
    run = access.readable_run(session, principal, run_id)
    html = render_brief(
        run_dir,
        run_id=run_id,
        manifest=read_manifest(run_dir, required=False),
        scenario=ScenarioText(run.scenario, "The scenario as it was submitted to the service."),
        options=BriefOptions(run_requests.threshold(principal, settings), level, grouping),
        map_png=aggregate_map(run_dir, settings.k_anonymity).read_bytes(),
    )
    return HTMLResponse(html)
