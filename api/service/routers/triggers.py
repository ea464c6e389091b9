"""``/triggers``: anticipatory-action triggers, their source files, and their evaluations.

What the routes do is in :mod:`rahat.api.service.triggers`; agencies (and admins) store,
upload and evaluate, planners read.
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from sqlalchemy.orm import Session

from rahat.api.service import triggers
from rahat.api.service.deps import AuditDep, JobsDep, SessionDep, SessionsDep, SettingsDep
from rahat.api.service.models import TriggerRecord, TriggerSourceFile, new_id
from rahat.api.service.problems import problem_docs
from rahat.api.service.routers.hazards import named_after_upload
from rahat.api.service.schemas import MAX_OFFSET
from rahat.api.service.security import ReaderPrincipal, UploaderPrincipal
from rahat.api.service.uploads import receive_upload
from rahat.engine.targeting.scenario_models import MAX_NAME_LENGTH
from rahat.engine.triggers.model import Trigger
from rahat.geo.errors import InputError

router = APIRouter(prefix="/triggers", tags=["triggers"])

TriggerId = Annotated[str, PathParam(max_length=64, description="Trigger id from POST /triggers.")]
SourceName = Annotated[str, PathParam(max_length=MAX_NAME_LENGTH, description="A source's name.")]


class TriggerFileOut(BaseModel):
    """A file uploaded for one source of a trigger, as the engine read it."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Name it in a later version's source as 'upload:<id>'.")
    trigger_id: str
    source: str
    kind: str
    filename: str
    sha256: str
    size: int
    created_at: dt.datetime
    inspect: dict[str, Any]


class TriggerOut(BaseModel):
    """A stored trigger version and the latest file of each source."""

    id: str
    name: str
    version: int = Field(description="1 for the first trigger of a name, then one more each.")
    created_at: dt.datetime
    trigger: dict[str, Any] = Field(description="The trigger as sent.")
    files: dict[str, TriggerFileOut] = Field(description="Latest upload per source.")


class EvaluateRequest(BaseModel):
    """The decision date, and whether activation may start its run."""

    model_config = ConfigDict(extra="forbid")

    as_of: dt.date = Field(description="Decision date, YYYY-MM-DD.")
    run: bool = Field(
        default=True,
        description="Start activation's scenario on the firing areas when it fires.",
    )


class EvaluationOut(BaseModel):
    """A trigger's state at a date, and the run it started (if any)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    trigger_id: str
    as_of: dt.date
    state: dict[str, Any] = Field(description="Per stage: the firing areas and, per area, why.")
    run_id: str | None = Field(description="The run started (poll GET /runs/{id}), if any.")
    created_at: dt.datetime


def _mapping(value: Any) -> dict[str, Any]:
    """Accept a JSON object; :func:`load_trigger` validates it (its limits, its fields)."""
    if not isinstance(value, dict):
        raise ValueError("the trigger must be a JSON object")
    return value


#: A trigger sent as JSON: documented as the trigger-file schema, kept as the mapping sent.
TriggerBody = Annotated[
    dict[str, Any],
    PlainValidator(_mapping, json_schema_input_type=Trigger),
    Body(description="The trigger file's fields as JSON."),
]


def _out(session: Session, records: list[TriggerRecord]) -> list[TriggerOut]:
    """The triggers with the latest file of each of their sources (one query for the files)."""
    files = triggers.latest_files(session, [r.id for r in records])
    return [
        TriggerOut(
            id=r.id,
            name=r.name,
            version=r.version,
            created_at=r.created_at,
            trigger=r.definition,
            files={k: TriggerFileOut.model_validate(v) for k, v in files[r.id].items()},
        )
        for r in records
    ]


@router.post(
    "",
    status_code=201,
    response_model=TriggerOut,
    summary="Store a trigger (the next version of its name)",
    responses=problem_docs(400, 401, 403, 409, 413, 422),
)
def create_trigger(
    body: TriggerBody,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    principal: UploaderPrincipal,
) -> TriggerOut:
    """Validate a trigger and store it; a name sent again becomes its next version.

    Sources name no server file: leave a source's path out and upload its file with ``POST
    /triggers/{id}/sources/{name}``, or reuse an upload as ``upload:<file id>``. Areas are
    admin units by level and P-code; a stage's scenario is the name of a file of the server's
    scenarios folder.
    """
    audit.add(filter={"name": str(body.get("name"))[:MAX_NAME_LENGTH]})
    record = triggers.create_trigger(session, settings, principal, body)
    audit.add(filter={"trigger_id": record.id, "version": record.version})
    return _out(session, [record])[0]


@router.get("", response_model=list[TriggerOut], responses=problem_docs(401, 403))
def list_triggers(
    session: SessionDep,
    principal: ReaderPrincipal,
    name: Annotated[str | None, Query(max_length=MAX_NAME_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[TriggerOut]:
    """List stored triggers (every version), newest first; ``name`` keeps one name's."""
    return _out(session, triggers.list_triggers(session, name, limit, offset))


@router.get("/{trigger_id}", response_model=TriggerOut, responses=problem_docs(401, 403, 404))
def get_trigger(
    trigger_id: TriggerId, session: SessionDep, principal: ReaderPrincipal
) -> TriggerOut:
    """One stored trigger and the latest file of each of its sources."""
    return _out(session, [triggers.find_trigger(session, trigger_id)])[0]


@router.post(
    "/{trigger_id}/sources/{source}",
    status_code=201,
    response_model=TriggerFileOut,
    summary="Upload the file of a trigger's source",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "Area series CSV, forecast NetCDF or CAP XML, "
                                "as the source's kind says.",
                            }
                        },
                    }
                }
            },
        }
    },
    responses=problem_docs(400, 401, 403, 404, 413, 415, 422, 507),
)
async def upload_source(
    request: Request,
    trigger_id: TriggerId,
    source: SourceName,
    settings: SettingsDep,
    sessions: SessionsDep,
    audit: AuditDep,
    principal: UploaderPrincipal,
) -> TriggerFileOut:
    """Stream a source's file to disk (size-capped), read it as the engine will, and store it.

    The file must be of the source's kind (415 otherwise) and readable for the trigger's areas
    (422 with the engine's words); the latest upload of a source is the one evaluated. Nothing
    is kept of a refused or interrupted upload.
    """
    audit.add(filter={"trigger_id": trigger_id, "source": source})

    def find() -> tuple[Any, Any]:
        with sessions() as session:
            record = triggers.find_trigger(session, trigger_id)
            triggers.require_owner(record, principal)
            return record, triggers.source_of(record, source)

    record, spec = await run_in_threadpool(find)
    file_id = new_id()
    target = triggers.files_dir(settings) / trigger_id / file_id
    try:
        received = await receive_upload(request, target, max_bytes=settings.max_upload_bytes)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    assert received.file is not None
    upload = received.file
    filename = upload.final_path.name
    audit.add(filter={"filename": filename, "file_id": file_id})
    try:
        if received.fields:
            raise InputError(f"Unknown form field(s) {sorted(received.fields)}; send only 'file'.")
        temp_path = await run_in_threadpool(upload.finish)
        audit.add(filter={"size": upload.size})
        try:
            await run_in_threadpool(triggers.sniff, spec.kind, temp_path)
            info = await run_in_threadpool(triggers.read_source, record, source, temp_path)
        except InputError as exc:
            raise named_after_upload(exc, temp_path, filename) from None
        final_path = await run_in_threadpool(upload.commit)
    except BaseException:
        upload.abort()
        shutil.rmtree(target, ignore_errors=True)
        raise
    row = TriggerSourceFile(
        id=file_id,
        trigger_id=trigger_id,
        source=source,
        kind=spec.kind,
        filename=filename,
        path=str(final_path),
        sha256=upload.sha256,
        size=upload.size,
        uploaded_by=principal.organisation_id,
        inspect=info,
    )

    def store() -> TriggerFileOut:
        try:
            with sessions() as session, session.begin():
                session.add(row)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        audit.add(filter={"sha256": row.sha256})
        return TriggerFileOut.model_validate(row)

    return await run_in_threadpool(store)


@router.post(
    "/{trigger_id}/evaluate",
    response_model=EvaluationOut,
    summary="Evaluate a trigger at a date; start activation's run where it fires",
    responses=problem_docs(400, 401, 403, 404, 409, 413, 422, 429, 503, 507),
)
def evaluate_trigger(
    trigger_id: TriggerId,
    body: EvaluateRequest,
    session: SessionDep,
    settings: SettingsDep,
    jobs: JobsDep,
    audit: AuditDep,
    principal: UploaderPrincipal,
) -> EvaluationOut:
    """Say per stage and area whether the trigger fires at ``as_of``, and why.

    When ``activation`` fires, names a scenario and ``run`` is true, that scenario restricted
    to the firing areas is queued as a run of your organisation (``run_id``; poll ``GET
    /runs/{id}``), with the trigger's state in its manifest.
    """
    audit.add(filter={"trigger_id": trigger_id, "as_of": body.as_of.isoformat(), "run": body.run})
    record = triggers.find_trigger(session, trigger_id)
    triggers.require_owner(record, principal)
    evaluation = triggers.evaluate(session, settings, jobs, principal, record, body.as_of, body.run)
    audit.add(run_id=evaluation.run_id, filter={"evaluation_id": evaluation.id})
    return EvaluationOut.model_validate(evaluation)


@router.get(
    "/{trigger_id}/evaluations",
    response_model=list[EvaluationOut],
    responses=problem_docs(401, 403, 404),
)
def list_evaluations(
    trigger_id: TriggerId,
    session: SessionDep,
    principal: ReaderPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[EvaluationOut]:
    """The trigger's states at the dates it was evaluated, newest first."""
    triggers.find_trigger(session, trigger_id)
    rows = triggers.list_evaluations(session, trigger_id, limit, offset)
    return [EvaluationOut.model_validate(r) for r in rows]
