"""``/hazards``: upload (streamed, size-capped, validated, stored atomically) and list."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from rahat.api.service.deps import AuditDep, SessionDep, SessionsDep, SettingsDep
from rahat.api.service.extent import registry_extent
from rahat.api.service.hazard_requests import MAX_KIND_CHARS, check_form, find_hazard
from rahat.api.service.models import Hazard, new_id
from rahat.api.service.problems import problem_docs
from rahat.api.service.redact import redact_paths
from rahat.api.service.scenarios import READ_OPTIONS_KEY, upload_read_options
from rahat.api.service.schemas import MAX_OFFSET, HazardOut
from rahat.api.service.security import ReaderPrincipal, UploaderPrincipal
from rahat.api.service.settings import Settings
from rahat.api.service.uploads import receive_upload
from rahat.geo.errors import InputError

router = APIRouter(prefix="/hazards", tags=["hazards"])

__all__ = ["MAX_KIND_CHARS", "registry_extent", "router"]

_UPLOAD_BODY: dict[str, Any] = {
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
                            "description": "GeoTIFF, NetCDF, GeoPackage, GeoJSON or zipped "
                            "shapefile.",
                        },
                        "name": {"type": "string", "maxLength": 200},
                        "kind": {
                            "type": "string",
                            "maxLength": MAX_KIND_CHARS,
                            "description": "flood_depth, earthquake_mmi, ...",
                        },
                        "crs": {"type": "string", "description": "CRS if the file lacks one."},
                        "intensity_field": {
                            "type": "string",
                            "description": "Attribute holding the intensity (vector files).",
                        },
                        "layer": {
                            "type": "string",
                            "description": "Layer of a multi-layer vector file (TopoJSON "
                            "object, GeoPackage table).",
                        },
                    },
                }
            }
        },
    }
}


def _validate(
    path: Path, fields: dict[str, str], sender: str, settings: Settings
) -> dict[str, Any]:
    """Read the uploaded file with geo's hazard reader; return its JSON description."""
    from rahat.geo.hazards import inspect_hazard, read_hazard

    layer = read_hazard(
        path,
        kind=fields.get("kind") or None,
        name=fields.get("name") or None,
        crs=fields.get("crs") or None,
        intensity_field=fields.get("intensity_field") or None,
        layer=fields.get("layer") or None,
        sender=sender,
        registry_extent=registry_extent(settings.registry_path),
    )
    return dict(inspect_hazard(layer))


@router.post(
    "",
    status_code=201,
    response_model=HazardOut,
    summary="Upload a hazard file",
    openapi_extra=_UPLOAD_BODY,
    responses=problem_docs(400, 401, 403, 413, 415, 422, 507),
)
async def upload_hazard(
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    audit: AuditDep,
    principal: UploaderPrincipal,
) -> HazardOut:
    """Stream a hazard file to disk (size-capped), validate it, and store it.

    The answer is 201 only once the file is validated, synced and renamed into place and its
    record committed (durably); a refused or interrupted upload leaves nothing behind, and a
    full disk is answered 507.
    """
    hazard_id = new_id()
    target = settings.hazards_dir / hazard_id
    audit.add(filter={"hazard_id": hazard_id})
    try:
        received = await receive_upload(request, target, max_bytes=settings.max_upload_bytes)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    assert received.file is not None
    upload = received.file
    filename = upload.final_path.name
    audit.add(filter={"filename": filename})
    try:
        check_form(received.fields)
        temp_path = await run_in_threadpool(upload.finish)
        audit.add(filter={"size": upload.size})
        try:
            info = await run_in_threadpool(
                _validate, temp_path, received.fields, principal.organisation, settings
            )
        except InputError as exc:
            raise named_after_upload(exc, temp_path, filename) from None
        info = named_after_upload_json(_json_safe(info), temp_path, filename)
        options = upload_read_options(received.fields)
        if options:  # what the run must pass to read the file as it was validated
            info[READ_OPTIONS_KEY] = options
        final_path = await run_in_threadpool(upload.commit)
    except BaseException:
        upload.abort()
        shutil.rmtree(target, ignore_errors=True)
        raise
    name = (received.fields.get("name") or "").strip() or Path(final_path.name).stem
    hazard = Hazard(
        id=hazard_id,
        name=name[:200],
        kind=(received.fields.get("kind") or info.get("kind") or None),
        filename=final_path.name,
        path=str(final_path),
        sha256=upload.sha256,
        size=upload.size,
        uploaded_by=principal.organisation_id,
        inspect=info,
    )

    def store() -> HazardOut:
        try:
            with sessions() as session, session.begin():
                session.add(hazard)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        audit.add(
            action="hazards.upload",
            filter={"hazard_id": hazard_id, "filename": hazard.filename, "size": hazard.size},
        )
        return HazardOut.model_validate(hazard)

    return await run_in_threadpool(store)


def _json_safe(value: Any) -> Any:
    from rahat.api.service.jobs import json_safe

    return json_safe(value)


def _upload_paths(temp_path: Path, filename: str) -> list[tuple[Path, str]]:
    """Temporary spellings of an upload and what a client should read instead."""
    return [(temp_path, filename), (temp_path.parent, "")]


def named_after_upload(exc: InputError, temp_path: Path, filename: str) -> InputError:
    """Make a refusal name the file as uploaded, never its temporary server path."""
    pairs = _upload_paths(temp_path, filename)
    exc.source = filename if exc.source is not None else None
    exc.detail = redact_paths(exc.detail, None, pairs)
    exc.args = (redact_paths(str(exc), None, pairs),)
    return exc


def named_after_upload_json(value: Any, temp_path: Path, filename: str) -> Any:
    """Replace the temporary path of an upload in its (JSON) description with its name."""
    if isinstance(value, str):
        return redact_paths(value, None, _upload_paths(temp_path, filename))
    if isinstance(value, dict):
        return {k: named_after_upload_json(v, temp_path, filename) for k, v in value.items()}
    if isinstance(value, list):
        return [named_after_upload_json(v, temp_path, filename) for v in value]
    return value


@router.get("", response_model=list[HazardOut], responses=problem_docs(401, 403))
def list_hazards(
    session: SessionDep,
    principal: ReaderPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[HazardOut]:
    """List uploaded hazards, newest first."""
    rows = session.scalars(
        select(Hazard).order_by(Hazard.created_at.desc(), Hazard.id).limit(limit).offset(offset)
    )
    return [HazardOut.model_validate(h) for h in rows]


@router.get("/{hazard_id}", response_model=HazardOut, responses=problem_docs(401, 403, 404))
def get_hazard(
    session: SessionDep,
    principal: ReaderPrincipal,
    hazard_id: Annotated[str, PathParam(max_length=64)],
) -> HazardOut:
    """Describe one uploaded hazard."""
    return HazardOut.model_validate(find_hazard(session, hazard_id))
