"""What the ``/triggers`` routes do, without HTTP: store triggers, their files, evaluations.

A trigger sent to the API is the mapping of a trigger file (:mod:`rahat.engine.triggers.model`)
as JSON, validated by :func:`rahat.engine.triggers.files.load_trigger`. Like an inline scenario
it may read no file of the server that it names itself:

* a source's ``path`` is left out (its file is uploaded with ``POST
  /triggers/{id}/sources/{name}``) or names an earlier upload for a source of the same kind as
  ``upload:<file id>`` (a new version of a trigger reuses its history that way);
* ``areas`` are admin units by level and P-code (``areas.path`` is refused);
* a stage's ``scenario`` is the name of a scenario file of the server's scenarios folder, as
  ``POST /runs`` takes with ``scenario_name``.

Sending a trigger of a name again stores the next version under a new id. Evaluating reads the
latest upload of each source; when ``activation`` fires and names a scenario, the scenario
restricted to the firing areas (:func:`rahat.engine.triggers.evaluate.firing_scenario`) is
queued as a run of the caller's organisation with the trigger's state in its manifest.

Refusals are errors of :mod:`rahat.geo.errors` (404, 409, 415, 422, 429, 503, 507), turned into
problem documents by :mod:`rahat.api.service.problems`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rahat.api.service.enums import RunStatus
from rahat.api.service.guard import check_run_rate
from rahat.api.service.models import Run, TriggerEvaluation, TriggerRecord, TriggerSourceFile
from rahat.api.service.redact import redact_paths
from rahat.api.service.registry_status import require_registry
from rahat.api.service.scenarios import prepare_scenario, read_named_scenario
from rahat.api.service.schemas import ScenarioSource
from rahat.api.service.security import Principal
from rahat.api.service.settings import Settings
from rahat.api.service.storage import require_free_space
from rahat.engine.triggers.files import TriggerFile, load_trigger
from rahat.engine.triggers.model import Source
from rahat.geo.errors import (
    AccessDeniedError,
    ConflictError,
    InputError,
    NotFoundError,
    ScenarioError,
    TriggerError,
    UnsupportedMediaTypeError,
)

if TYPE_CHECKING:
    from rahat.api.service.jobs import JobManager

#: How a source's ``path`` names an earlier upload: ``upload:<file id>``.
UPLOAD_PREFIX = "upload:"

#: The stage whose firing starts a run.
RUN_STAGE = "activation"

#: What a source's file must start with, by kind (after a byte-order mark and blanks for XML).
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "grid": (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n"),
    "cap": (b"<",),
}

#: What each kind of source takes, for messages.
_FORMATS = {
    "area_series": "a CSV file (pcode,date,value[,member])",
    "grid": "a NetCDF file",
    "cap": "a CAP 1.2 XML file",
}


def files_dir(settings: Settings) -> Path:
    """The folder of trigger source uploads: ``<state>/triggers/<trigger id>/<file id>/``."""
    return settings.state_dir / "triggers"


def _may_use(upload: TriggerSourceFile, principal: Principal) -> bool:
    """Whether ``principal`` may name ``upload`` in a trigger (its own organisation's)."""
    return principal.is_admin or upload.uploaded_by == principal.organisation_id


def _check_server_files(
    session: Session, settings: Settings, file: TriggerFile, principal: Principal
) -> None:
    """Refuse a trigger that names files of the server (see the module's description)."""
    trigger = file.trigger
    problems = []
    if trigger.areas.path is not None:
        problems.append(
            "areas.path: a trigger sent to the API cannot read files on the server; name its "
            "areas by level and codes"
        )
    for name, source in trigger.sources.items():
        if source.path is None:
            continue
        if not source.path.startswith(UPLOAD_PREFIX):
            problems.append(
                f"sources.{name}.path: a trigger sent to the API cannot read files on the "
                f"server; leave the path out and upload the file with POST "
                f"/triggers/{{id}}/sources/{name}, or name an earlier upload as "
                f"'{UPLOAD_PREFIX}<file id>'"
            )
            continue
        upload = session.get(TriggerSourceFile, source.path.removeprefix(UPLOAD_PREFIX))
        if upload is None or upload.kind != source.kind or not _may_use(upload, principal):
            problems.append(f"sources.{name}.path: no uploaded {source.kind} file '{source.path}'")
    for stage_name, stage in trigger.stages.items():
        if stage.scenario is None:
            continue
        try:
            read_named_scenario(settings, stage.scenario)
        except ScenarioError as exc:
            problems.append(f"stages.{stage_name}.scenario '{stage.scenario}': {exc.detail}")
    if problems:
        raise TriggerError("; ".join(problems))


def create_trigger(
    session: Session, settings: Settings, principal: Principal, data: Mapping[str, Any]
) -> TriggerRecord:
    """Validate a trigger sent to the API and store it as the next version of its name.

    Raises
    ------
    rahat.geo.errors.TriggerError
        (422) For an invalid trigger, unknown area codes, or one that names server files.
    rahat.geo.errors.ConflictError
        (409) When the same name was stored at the same moment by another request.
    """
    from rahat.engine.triggers.evaluate import trigger_areas

    file = load_trigger(data)
    _check_server_files(session, settings, file, principal)
    trigger_areas(file.trigger)  # the codes name units of the level
    name = file.trigger.name
    latest = session.scalar(
        select(func.max(TriggerRecord.version)).where(TriggerRecord.name == name)
    )
    record = TriggerRecord(
        name=name,
        version=(latest or 0) + 1,
        definition=dict(data),
        created_by=principal.organisation_id,
    )
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(
            f"Another version of trigger '{name}' was stored at the same moment; send it again."
        ) from None
    return record


def find_trigger(session: Session, trigger_id: str) -> TriggerRecord:
    """The stored trigger ``trigger_id``; :class:`~rahat.geo.errors.NotFoundError` if none."""
    record = session.get(TriggerRecord, trigger_id)
    if record is None:
        raise NotFoundError(f"No trigger with id '{trigger_id}'; list them with GET /triggers.")
    return record


def require_owner(record: TriggerRecord, principal: Principal) -> None:
    """Only the trigger's organisation (or an administrator) feeds or evaluates it.

    Raises
    ------
    rahat.geo.errors.AccessDeniedError
        (403) For another organisation: it could otherwise plant a forecast that makes the
        trigger fire, or start runs from it.
    """
    if not principal.is_admin and record.created_by != principal.organisation_id:
        raise AccessDeniedError(
            "This trigger belongs to another organisation: only it (or an administrator) may "
            "upload its sources or evaluate it."
        )


def list_triggers(
    session: Session, name: str | None, limit: int, offset: int
) -> list[TriggerRecord]:
    """Stored triggers, newest first, optionally only the versions of ``name``."""
    query = select(TriggerRecord).order_by(TriggerRecord.created_at.desc(), TriggerRecord.id)
    if name is not None:
        query = query.where(TriggerRecord.name == name)
    return list(session.scalars(query.limit(limit).offset(offset)))


def latest_files(
    session: Session, trigger_ids: Collection[str]
) -> dict[str, dict[str, TriggerSourceFile]]:
    """The latest upload of each source of the triggers: trigger id -> source name -> file."""
    rows = session.scalars(
        select(TriggerSourceFile)
        .where(TriggerSourceFile.trigger_id.in_(list(trigger_ids)))
        .order_by(TriggerSourceFile.created_at, TriggerSourceFile.id)
    )
    out: dict[str, dict[str, TriggerSourceFile]] = {tid: {} for tid in trigger_ids}
    for row in rows:
        out[row.trigger_id][row.source] = row
    return out


def list_evaluations(
    session: Session, trigger_id: str, limit: int, offset: int
) -> list[TriggerEvaluation]:
    """Evaluations of a trigger, newest first."""
    query = (
        select(TriggerEvaluation)
        .where(TriggerEvaluation.trigger_id == trigger_id)
        .order_by(TriggerEvaluation.created_at.desc(), TriggerEvaluation.id)
    )
    return list(session.scalars(query.limit(limit).offset(offset)))


def source_of(record: TriggerRecord, name: str) -> Source:
    """The source ``name`` of a stored trigger; :class:`~rahat.geo.errors.NotFoundError` if none."""
    sources = load_trigger(record.definition).trigger.sources
    if name not in sources:
        raise NotFoundError(
            f"Trigger '{record.id}' has no source '{name}' (sources: {', '.join(sorted(sources))})."
        )
    return sources[name]


def sniff(kind: str, path: Path) -> None:
    """Refuse (415) a file whose first bytes are not of the format of a ``kind`` source."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if kind == "cap":
        head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    magic = _MAGIC.get(kind)
    fits = head.startswith(magic) if magic else b"\x00" not in head
    if not fits:
        raise UnsupportedMediaTypeError(
            f"a {kind} source takes {_FORMATS[kind]}; this file is not one", source=path.name
        )


def read_source(record: TriggerRecord, name: str, path: Path) -> dict[str, Any]:
    """Read an uploaded file as source ``name`` of the trigger, as evaluation will.

    Returns
    -------
    dict
        What was read: areas, members, first and last day, the reader's warnings.

    Raises
    ------
    rahat.geo.errors.InputError
        The engine's refusal (a forecast without a CRS or time axis, a malformed CAP file, a
        series without its columns).
    """
    import numpy as np

    from rahat.engine.triggers.evaluate import read_source, trigger_areas

    trigger = load_trigger(record.definition).trigger
    areas = trigger_areas(trigger)
    today = np.datetime64(dt.datetime.now(dt.UTC).date().isoformat(), "D")
    series = read_source(name, trigger.sources[name], path, areas, today)
    covered = np.isfinite(series.values).any(axis=(1, 2))
    return {
        "areas": len(series.areas),
        "areas_with_values": int(covered.sum()),
        "members": series.members,
        "first_day": str(series.days[0]),
        "last_day": str(series.days[-1]),
        "warnings": list(series.warnings),
    }


def _given(
    session: Session, record: TriggerRecord, file: TriggerFile
) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """The file of each source the stages read (latest upload, else its ``upload:`` path).

    Returns the files by source name, and (server path, name as uploaded) pairs.

    Raises
    ------
    rahat.geo.errors.ConflictError
        For a source with no file yet.
    """
    latest = latest_files(session, [record.id])[record.id]
    given: dict[str, Path] = {}
    names: list[tuple[str, str]] = []
    missing = []
    conditions = [c for s in file.trigger.stages.values() for c in s.when.conditions]
    used = {c.source for c in conditions} | {c.above.history for c in conditions if c.above.history}
    for name in sorted(used):
        source = file.trigger.sources[name]
        upload = latest.get(name)
        if upload is None and source.path is not None:
            upload = session.get(TriggerSourceFile, source.path.removeprefix(UPLOAD_PREFIX))
        if upload is None:
            missing.append(name)
            continue
        given[name] = Path(upload.path)
        names.append((upload.path, upload.filename))
    if missing:
        raise ConflictError(
            f"Source(s) {', '.join(missing)} of trigger '{record.id}' have no file yet: upload "
            f"each with POST /triggers/{record.id}/sources/<name>."
        )
    return given, names


def _queue_run(
    session: Session,
    settings: Settings,
    principal: Principal,
    scenario_name: str,
    notified: Any,
    state: dict[str, Any],
) -> Run:
    """Store (uncommitted) a queued run of the named scenario for the ``notified`` units.

    Refused as ``POST /runs`` refuses: beyond the hourly runs (429), an invalid scenario (422),
    no registry (503), a full disk (507).
    """
    check_run_rate(session, principal, settings)
    data = prepare_scenario(settings, ScenarioSource(scenario_name=scenario_name), set())
    eligibility = dict(data.get("eligibility") or {})
    eligibility["notified"] = {"level": notified.level, "units": list(notified.units)}
    data["eligibility"] = eligibility
    require_registry(settings.registry_path)
    require_free_space(settings.runs_dir)
    run = Run(
        scenario=data,
        scenario_name=scenario_name,
        hazards={},
        status=RunStatus.QUEUED,
        progress=0.0,
        attempts=0,
        created_by=principal.organisation_id,
        manifest_extra={"trigger": state},
    )
    session.add(run)
    return run


def evaluate(
    session: Session,
    settings: Settings,
    jobs: JobManager,
    principal: Principal,
    record: TriggerRecord,
    as_of: dt.date,
    run: bool,
) -> TriggerEvaluation:
    """Evaluate a stored trigger at ``as_of``; start activation's run where it fires.

    The evaluation (and the run, queued with it) is committed, then the run submitted.

    Raises
    ------
    rahat.geo.errors.ConflictError
        (409) For a source without a file.
    rahat.geo.errors.InputError
        (422) The engine's refusal (a lead window outside a source's days, ...), naming the
        files as uploaded; the refusals of ``POST /runs`` for the run.
    """
    from rahat.api.service.jobs import json_safe
    from rahat.engine.triggers.evaluate import evaluate_trigger, firing_scenario

    loaded = load_trigger(record.definition)
    # stage scenarios are names of files of the scenarios folder (checked when stored)
    file = TriggerFile(loaded.trigger, settings.scenarios_dir)
    given, names = _given(session, record, loaded)
    try:
        state = evaluate_trigger(file, as_of.isoformat(), given)
        stage = file.trigger.stages.get(RUN_STAGE)  # type: ignore[call-overload]
        firing = None
        if run and stage is not None and stage.scenario is not None:
            firing = firing_scenario(file, state, RUN_STAGE)
    except InputError as exc:
        exc.args = (redact_paths(str(exc), None, names),)
        raise
    payload = json_safe(state.as_json())
    started = None
    if firing is not None:
        notified = firing.eligibility.notified
        started = _queue_run(session, settings, principal, stage.scenario, notified, payload)
        session.flush()
    evaluation = TriggerEvaluation(
        trigger_id=record.id,
        as_of=as_of,
        state=payload,
        run_id=started.id if started is not None else None,
        created_by=principal.organisation_id,
    )
    session.add(evaluation)
    session.commit()
    if started is not None:
        jobs.submit(started.id)
    return evaluation
