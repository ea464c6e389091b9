"""``/runs``: scenario runs as jobs, their summaries, maps, comparisons and household lists."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import TypeAdapter

from rahat.api.service import access, run_requests
from rahat.api.service.aggregates import encoded_summary
from rahat.api.service.deps import AuditDep, JobsDep, SessionDep, SessionsDep, SettingsDep
from rahat.api.service.enums import HouseholdFormat, RunStatus
from rahat.api.service.export import (
    MEDIA_TYPES,
    HouseholdQuery,
    json_page,
    select_households,
    stream,
)
from rahat.api.service.policy import grant_for, parse_list
from rahat.api.service.problems import problem_docs
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
    ReaderPrincipal,
    RunnerPrincipal,
    UploaderPrincipal,
)

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, PathParam(max_length=64, description="Run id from POST /runs.")]


@router.post(
    "",
    status_code=202,
    response_model=RunOut,
    summary="Start a scenario run",
    responses=problem_docs(400, 401, 403, 413, 422, 429, 503, 507),
)
def create_run(
    body: RunCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    jobs: JobsDep,
    audit: AuditDep,
    principal: RunnerPrincipal,
) -> RunOut:
    """Queue a scenario run; answer 202 with the run to poll at ``GET /runs/{id}``.

    An organisation may start ``RAHAT_MAX_RUNS_PER_HOUR`` runs an hour (429 beyond).
    """
    run = run_requests.start_run(session, settings, principal, body)
    jobs.submit(run.id)
    audit.add(
        action="runs.create",
        run_id=run.id,
        filter={"scenario_name": body.scenario_name, "hazards": run.hazards},
    )
    response.headers["Location"] = f"/runs/{run.id}"
    return RunOut.model_validate(run)


@router.get("", response_model=list[RunOut], responses=problem_docs(401))
def list_runs(
    session: SessionDep,
    principal: CurrentPrincipal,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[RunOut]:
    """List the runs you may see, newest first.

    Your organisation's own runs; NGOs see those published to their data-sharing agreement;
    admins see all.
    """
    runs = run_requests.list_runs(session, principal, status, limit, offset)
    return [RunOut.model_validate(r) for r in runs]


@router.post(
    "/compare",
    response_model=CompareOut,
    summary="Compare two runs",
    responses=problem_docs(400, 401, 403, 404, 409, 413, 422),
)
def compare_runs(
    body: CompareRequest,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    principal: ReaderPrincipal,
) -> CompareOut:
    """Selected caseloads of two runs per province or district, and their household overlap.

    Counts below the k-anonymity threshold are null for non-admins. No household rows.
    """
    audit.add(run_id=body.run_a, filter=body.model_dump())
    figures = run_requests.compare(session, principal, body.run_a, body.run_b, body.level, settings)
    return CompareOut(run_a=body.run_a, run_b=body.run_b, **figures)


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
    run_id: RunId,
    session: SessionDep,
    settings: SettingsDep,
    jobs: JobsDep,
    audit: AuditDep,
    principal: RunnerPrincipal,
) -> RunOut:
    """Queue an ``interrupted`` or ``failed`` run again, under the same id."""
    run = run_requests.rerun(session, settings, jobs, principal, run_id)
    audit.add(action="runs.rerun", run_id=run.id)
    return RunOut.model_validate(run)


@router.get(
    "/{run_id}/summary",
    response_model=SummaryOut,
    responses=problem_docs(401, 403, 404, 409),
)
async def get_summary(
    run_id: RunId,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: ReaderPrincipal,
    level: Level = "district",
) -> Response:
    """Households, eligible, selected, persons and benefit per admin unit.

    Figures describing fewer than k households (``RAHAT_K_ANONYMITY``, default 10) are
    ``null`` for everyone but admins.
    """

    def body() -> bytes:
        with sessions() as session:
            run_dir = run_requests.figures_dir(session, principal, run_id, settings)
        return encoded_summary(
            run_dir,
            level,
            run_requests.threshold(principal, settings),
            lambda figures: _SUMMARY_JSON.dump_json(SummaryOut(run_id=run_id, **figures)),
            tag=run_id,
        )

    # One worker-thread hop (access check, then the summary encoded once per run and level).
    return Response(await anyio.to_thread.run_sync(body), media_type="application/json")


#: Encoder of summaries, as FastAPI encodes a ``SummaryOut`` response.
_SUMMARY_JSON = TypeAdapter(SummaryOut)


@router.get(
    "/{run_id}/map.png",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, **problem_docs(401, 403, 404, 409)},
)
def get_map(
    run_id: RunId, session: SessionDep, settings: SettingsDep, principal: ReaderPrincipal
) -> FileResponse:
    """The run's map: selected households per district, blanked as in the summary.

    Administrators get the run's map of household points instead.
    """
    path = run_requests.map_file(session, principal, run_id, settings)
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
    session: SessionDep,
    audit: AuditDep,
    principal: UploaderPrincipal,
) -> PublishOut:
    """Share a succeeded run with the NGOs of the given agreements (recorded and audited).

    Until then a run is private to the organisation that started it; NGOs can list and
    download households only of runs published to their agreement.
    """
    audit.add(action="runs.publish", run_id=run_id, filter=body.model_dump())
    run = access.readable_run(session, principal, run_id)
    shares = access.publish_run(session, principal, run, body.agreements)
    session.commit()
    return PublishOut(run_id=run.id, agreements=sorted(s.agreement_id for s in shares))


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
    session: SessionDep,
    audit: AuditDep,
    principal: HouseholdPrincipal,
    format: HouseholdFormat = HouseholdFormat.JSON,
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
    audit.add(action="households.export", run_id=run_id, filter=query.as_filter())
    grant = grant_for(principal, run_requests.household_agreement(session, principal))
    assert grant is not None
    audit.add(agreement_id=grant.agreement_id)
    run_dir = access.finished_dir(access.readable_run(session, principal, run_id))
    selection = select_households(run_dir / "caseload.parquet", grant, query)
    rows = selection.table.num_rows
    audit.add(rows=rows, fields=selection.fields)
    headers = {"X-Total-Count": str(selection.total), "X-Row-Count": str(rows)}
    if format == HouseholdFormat.JSON:
        return JSONResponse(json_page(selection), headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="households-{run_id}.{format}"'
    return StreamingResponse(
        stream(selection, format), media_type=MEDIA_TYPES[format], headers=headers
    )
