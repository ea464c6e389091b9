"""``/runs``: scenario runs as jobs, their summaries, maps, comparisons and household lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from rahat.api.service import access, audit, comparison
from rahat.api.service.aggregates import summary
from rahat.api.service.export import (
    MEDIA_TYPES,
    HouseholdQuery,
    json_page,
    select_households,
    stream_csv,
    stream_geojson,
    stream_parquet,
)
from rahat.api.service.guard import check_figures_readable, check_run_rate
from rahat.api.service.jobs import RERUNNABLE, JobManager
from rahat.api.service.maps import aggregate_map
from rahat.api.service.models import Agreement, Hazard, Run
from rahat.api.service.policy import grant_for, parse_list
from rahat.api.service.problems import problem_docs
from rahat.api.service.registry_status import require_registry
from rahat.api.service.scenarios import prepare_scenario as _prepare_scenario
from rahat.api.service.schemas import (
    MAX_OFFSET,
    CompareOut,
    CompareRequest,
    HouseholdPage,
    Level,
    PublishOut,
    PublishRequest,
    RunCreate,
    RunOut,
    SummaryOut,
)
from rahat.api.service.security import (
    CurrentPrincipal,
    HouseholdPrincipal,
    Principal,
    ReaderPrincipal,
    RunnerPrincipal,
    SessionDep,
    UploaderPrincipal,
    active_agreement,
)
from rahat.api.service.settings import Settings
from rahat.api.service.storage import require_free_space
from rahat.geo.errors import NotFoundError

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, PathParam(max_length=64, description="Run id from POST /runs.")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _jobs(request: Request) -> JobManager:
    jobs: JobManager = request.app.state.jobs
    return jobs


def _resolve_hazards(session: Session, hazards: dict[str, str] | list[str]) -> dict[str, str]:
    ids = list(hazards.values()) if isinstance(hazards, dict) else list(hazards)
    found = {h.id: h for h in session.scalars(select(Hazard).where(Hazard.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise HTTPException(
            422, f"Unknown hazard id(s) {missing}: upload them with POST /hazards first."
        )
    if isinstance(hazards, dict):
        return dict(hazards)
    keyed: dict[str, str] = {}
    for hid in ids:
        key = found[hid].name
        if key in keyed:
            raise HTTPException(
                422,
                f"Two hazards are named '{key}': pass 'hazards' as a mapping from the "
                "scenario's hazard key to the id instead of a list.",
            )
        keyed[key] = hid
    return keyed


@router.post(
    "",
    status_code=202,
    response_model=RunOut,
    summary="Start a scenario run",
    responses=problem_docs(400, 401, 403, 413, 422, 429, 503, 507),
)
def create_run(
    body: RunCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: RunnerPrincipal,
) -> RunOut:
    """Queue a scenario run; answer 202 with the run to poll at ``GET /runs/{id}``.

    An organisation may start ``RAHAT_MAX_RUNS_PER_HOUR`` runs an hour (429 beyond).
    """
    check_run_rate(session, principal, _settings(request))
    hazards = _resolve_hazards(session, body.hazards)
    scenario = _prepare_scenario(_settings(request), body, set(hazards))
    require_registry(request)  # 503 when the service has no registry (RAHAT_REGISTRY_PATH)
    require_free_space(_settings(request).runs_dir)  # 507 on a full disk
    run = Run(
        scenario=scenario,
        scenario_name=body.scenario_name,
        hazards=hazards,
        status="queued",
        progress=0.0,
        attempts=0,
        created_by=principal.organisation_id,
    )
    session.add(run)
    session.commit()
    _jobs(request).submit(run.id)
    audit.note(
        request,
        action="runs.create",
        run_id=run.id,
        filter={"scenario_name": body.scenario_name, "hazards": hazards},
    )
    response.headers["Location"] = f"/runs/{run.id}"
    return RunOut.model_validate(run)


@router.get("", response_model=list[RunOut], responses=problem_docs(401))
def list_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    status: Literal["queued", "running", "succeeded", "failed", "interrupted"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[RunOut]:
    """List the runs you may see, newest first.

    Your organisation's own runs; NGOs see those published to their data-sharing agreement;
    admins see all.
    """
    query = access.visible_runs(session, principal).order_by(Run.created_at.desc(), Run.id)
    if status is not None:
        query = query.where(Run.status == status)
    return [RunOut.model_validate(r) for r in session.scalars(query.limit(limit).offset(offset))]


@router.post(
    "/compare",
    response_model=CompareOut,
    summary="Compare two runs",
    responses=problem_docs(400, 401, 403, 404, 409, 413, 422),
)
def compare_runs(
    body: CompareRequest, request: Request, session: SessionDep, principal: ReaderPrincipal
) -> CompareOut:
    """Selected caseloads of two runs per province or district, and their household overlap.

    Counts below the k-anonymity threshold are null for non-admins. No household rows.
    """
    audit.note(request, run_id=body.run_a, filter=body.model_dump())
    dir_a = _figures_dir(session, principal, body.run_a, _settings(request))
    dir_b = _figures_dir(session, principal, body.run_b, _settings(request))
    k = None if principal.is_admin else _settings(request).k_anonymity
    return CompareOut(
        run_a=body.run_a, run_b=body.run_b, **comparison.compare_runs(dir_a, dir_b, body.level, k)
    )


@router.get("/{run_id}", response_model=RunOut, responses=problem_docs(401, 404))
def get_run(run_id: RunId, session: SessionDep, principal: CurrentPrincipal) -> RunOut:
    """Status, progress and error of a run."""
    return RunOut.model_validate(access.readable_run(session, principal, run_id))


@router.post(
    "/{run_id}/rerun",
    status_code=202,
    response_model=RunOut,
    summary="Run an interrupted or failed run again",
    responses=problem_docs(401, 403, 404, 409, 507),
)
def rerun(
    run_id: RunId, request: Request, session: SessionDep, principal: RunnerPrincipal
) -> RunOut:
    """Queue an ``interrupted`` or ``failed`` run again, under the same id."""
    run = access.readable_run(session, principal, run_id)
    if run.status not in RERUNNABLE:
        raise HTTPException(
            409, f"Run '{run_id}' is {run.status}; only interrupted or failed runs can be re-run."
        )
    require_free_space(_settings(request).runs_dir)  # 507 on a full disk
    jobs = _jobs(request)
    jobs.requeue(session, run)
    session.commit()
    jobs.submit(run.id)
    audit.note(request, action="runs.rerun", run_id=run.id)
    return RunOut.model_validate(run)


@router.get(
    "/{run_id}/summary",
    response_model=SummaryOut,
    responses=problem_docs(401, 403, 404, 409),
)
def get_summary(
    run_id: RunId,
    request: Request,
    session: SessionDep,
    principal: ReaderPrincipal,
    level: Level = "district",
) -> SummaryOut:
    """Households, eligible, selected, persons and benefit per admin unit.

    Figures describing fewer than k households (``RAHAT_K_ANONYMITY``, default 10) are
    ``null`` for everyone but admins.
    """
    run_dir = _figures_dir(session, principal, run_id, _settings(request))
    k = None if principal.is_admin else _settings(request).k_anonymity
    return SummaryOut(run_id=run_id, **summary(run_dir, level, k))


@router.get(
    "/{run_id}/map.png",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, **problem_docs(401, 403, 404, 409)},
)
def get_map(
    run_id: RunId, request: Request, session: SessionDep, principal: ReaderPrincipal
) -> FileResponse:
    """The run's map: selected households per district, blanked as in the summary.

    Administrators get the run's map of household points instead.
    """
    run_dir = _figures_dir(session, principal, run_id, _settings(request))
    if principal.is_admin:
        path = run_dir / "map.png"
        if not path.is_file():
            raise NotFoundError(f"Run '{run_id}' has no map.")
    else:
        path = aggregate_map(run_dir, _settings(request).k_anonymity)
    return FileResponse(path, media_type="image/png")


@router.post(
    "/{run_id}/publish",
    response_model=PublishOut,
    summary="Publish a run to the NGOs of data-sharing agreements",
    responses=problem_docs(400, 401, 403, 404, 409, 413, 422),
)
def publish(
    run_id: RunId,
    body: PublishRequest,
    request: Request,
    session: SessionDep,
    principal: UploaderPrincipal,
) -> PublishOut:
    """Share a succeeded run with the NGOs of the given agreements (recorded and audited).

    Until then a run is private to the organisation that started it; NGOs can list and
    download households only of runs published to their agreement.
    """
    audit.note(request, action="runs.publish", run_id=run_id, filter=body.model_dump())
    run = access.readable_run(session, principal, run_id)
    shares = access.publish_run(session, principal, run, body.agreements)
    session.commit()
    return PublishOut(run_id=run.id, agreements=sorted(s.agreement_id for s in shares))


def _figures_dir(session: Session, principal: Principal, run_id: str, settings: Settings) -> Path:
    """Artifact folder of a run whose figures ``principal`` may read."""
    run = access.readable_run(session, principal, run_id)
    run_dir = access.finished_dir(run)
    check_figures_readable(run, principal, k=settings.k_anonymity)
    return run_dir


def _agreement_or_403(
    request: Request, session: Session, principal: Principal, run_id: str, query: HouseholdQuery
) -> Agreement | None:
    if principal.role != "ngo":
        return None
    agreement = active_agreement(session, principal.organisation_id)
    if agreement is not None:
        return agreement
    agreements = session.scalars(
        select(Agreement).where(Agreement.organisation_id == principal.organisation_id)
    ).all()
    if not agreements:
        message = "Your organisation has no data-sharing agreement; ask an administrator."
    else:
        latest = max(agreements, key=lambda a: a.valid_to)
        message = (
            f"Your data-sharing agreement is not in force today (valid {latest.valid_from} to "
            f"{latest.valid_to}); ask an administrator to renew it."
        )
    audit.note(request, action="households.export", run_id=run_id, filter=query.as_filter())
    raise HTTPException(403, message)


@router.get(
    "/{run_id}/households",
    response_model=HouseholdPage,
    summary="Household rows of a run, cut to your agreement",
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.apache.parquet": {},
                "application/geo+json": {},
            }
        },
        **problem_docs(401, 403, 404, 409, 422, 507),
    },
)
def get_households(
    run_id: RunId,
    request: Request,
    session: SessionDep,
    principal: HouseholdPrincipal,
    format: Literal["json", "csv", "parquet", "geojson"] = "json",
    unit: Annotated[
        list[str] | None,
        Query(
            description="Admin units as level:code (e.g. tehsil:PK70302), a code, or a name "
            "that fits one unit; repeat or comma-separate. Only levels whose unit field your "
            "agreement grants."
        ),
    ] = None,
    fields: Annotated[str | None, Query(description="Comma-separated columns.")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=100_000_000)] = None,
    selected_only: bool = True,
) -> Any:
    """Household rows of a finished run, as JSON pages, CSV, Parquet or GeoJSON.

    NGOs receive only what their data-sharing agreement allows: households in its admin
    units, its fields, at most its rows per request, with pseudonymous ids unless it grants
    ``household_id``. Every request is written to the audit log.
    """
    query = HouseholdQuery(
        units=parse_list(unit),
        fields=parse_list(fields),
        offset=offset,
        limit=limit,
        selected_only=selected_only,
        format=format,
    )
    agreement = _agreement_or_403(request, session, principal, run_id, query)
    grant = grant_for(principal, agreement)
    assert grant is not None
    audit.note(
        request,
        action="households.export",
        run_id=run_id,
        agreement_id=grant.agreement_id,
        filter=query.as_filter(),
    )
    run_dir = access.finished_dir(access.readable_run(session, principal, run_id))
    selection = select_households(run_dir / "caseload.parquet", grant, query)
    rows = selection.table.num_rows
    audit.note(request, rows=rows, fields=selection.fields)
    headers = {"X-Total-Count": str(selection.total), "X-Row-Count": str(rows)}
    if format == "json":
        return JSONResponse(json_page(selection), headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="households-{run_id}.{format}"'
    if format == "csv":
        body = stream_csv(selection.table)
    elif format == "parquet":
        body = stream_parquet(selection.table)
    else:
        body = stream_geojson(selection.table, selection.fields)
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers=headers)
