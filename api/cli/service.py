"""``rahat`` CLI commands: the Relief API server and its administration.

``rahat serve`` runs the API with uvicorn; ``rahat org``, ``rahat key`` and ``rahat agreement``
manage organisations, API keys and data-sharing agreements in the database named by the
``RAHAT_*`` settings, and ``rahat audit export`` exports the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

#: ``rahat serve``, added to the root application (no group of its own).
app = typer.Typer()
org_app = typer.Typer(
    name="org", help="Organisations using the API (each with one role).", no_args_is_help=True
)
key_app = typer.Typer(
    name="key", help="API keys (only their hashes are stored).", no_args_is_help=True
)
agreement_app = typer.Typer(
    name="agreement", help="Data-sharing agreements with NGOs.", no_args_is_help=True
)
audit_app = typer.Typer(name="audit", help="The append-only audit log.", no_args_is_help=True)


@contextmanager
def _sessions() -> Iterator[sessionmaker[Session]]:
    """Yield a session factory of the configured database (tables created if missing)."""
    from rahat.api.cli._common import user_errors
    from rahat.api.service.db import create_schema, make_engine, make_sessionmaker
    from rahat.api.service.settings import Settings

    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        with user_errors():
            yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def _session() -> Iterator[Session]:
    """Open a session on the configured database (tables created if missing); commit on success."""
    with _sessions() as factory, factory() as session:
        yield session
        session.commit()


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    survey: Annotated[
        Path | None,
        typer.Option(
            help="Survey of the coverage-gap estimates (GET /gap), Parquet or CSV with design "
            "weights and registration status (RAHAT_SURVEY_PATH; default: survey.parquet next "
            "to the registry). Checked at start."
        ),
    ] = None,
    gap_denominators: Annotated[
        Literal["census", "survey"] | None,
        typer.Option(
            help="Households per district of GET /gap: census (a real registry) or survey (a "
            "synthetic or scaled-down one, such as the demo's); RAHAT_GAP_DENOMINATORS."
        ),
    ] = None,
) -> None:
    """Run the Relief API (OpenAPI docs at /docs); settings come from RAHAT_* variables.

    Runs use the registry RAHAT_REGISTRY_PATH (default: the one 'rahat demo' builds in the
    cache); the server says at start and at /healthz which one, and without one refuses runs.
    GET /gap estimates whom that registry misses from the survey next to it or --survey.
    """
    import os

    import uvicorn

    from rahat.api.cli._common import user_errors
    from rahat.api.service.gap import survey_status
    from rahat.api.service.registry_status import registry_status
    from rahat.api.service.server import protocol_class
    from rahat.api.service.settings import Settings

    # the application is built by uvicorn from RAHAT_* variables: the options go there
    if survey is not None:
        os.environ["RAHAT_SURVEY_PATH"] = str(survey.expanduser().absolute())
    if gap_denominators is not None:
        os.environ["RAHAT_GAP_DENOMINATORS"] = gap_denominators
    settings = Settings()
    typer.echo(f"rahat serve: {registry_status(settings.registry_path).describe()}", err=True)
    with user_errors():
        typer.echo(f"rahat serve: {survey_status(settings, strict=True)}", err=True)
    uvicorn.run(
        "rahat.api.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=30,
        # Slow or oversized clients: RAHAT_HEADER_TIMEOUT, RAHAT_BODY_TIMEOUT,
        # RAHAT_KEEP_ALIVE_TIMEOUT, RAHAT_MAX_HEADER_BYTES, RAHAT_MAX_CONNECTIONS.
        http=protocol_class(
            settings.header_timeout, settings.body_timeout, settings.max_header_bytes
        ),
        timeout_keep_alive=settings.keep_alive_timeout,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_connections,
    )


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Argument(help="Organisation name.")],
    role: Annotated[str, typer.Option(help="admin, agency, planner or ngo.")] = "ngo",
) -> None:
    """Create an organisation."""
    from rahat.api.service.admin import add_organisation

    with _session() as session:
        org = add_organisation(session, name, role)
        typer.echo(f"organisation {org.name!r} ({org.role}) created")


@org_app.command("list")
def org_list() -> None:
    """List organisations with their roles."""
    from rahat.api.service.admin import list_organisations

    with _session() as session:
        for org in list_organisations(session):
            active = sum(1 for k in org.keys if k.revoked_at is None)
            typer.echo(f"{org.name}\t{org.role}\t{active} active key(s)")


@key_app.command("create")
def key_create(org: Annotated[str, typer.Argument(help="Organisation name.")]) -> None:
    """Create an API key and print its token (shown this once only)."""
    from rahat.api.service.admin import create_key

    with _session() as session:
        token, prefix = create_key(session, org)
    typer.echo(token)
    typer.echo(f"key {prefix} created for {org!r}: store the token now, it is not kept.", err=True)


@key_app.command("revoke")
def key_revoke(prefix: Annotated[str, typer.Argument(help="Key prefix (or the token).")]) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    from rahat.api.service.admin import revoke_key

    with _session() as session:
        key = revoke_key(session, prefix)
        typer.echo(f"key {key.prefix} revoked")


@agreement_app.command("add")
def agreement_add(
    org: Annotated[str, typer.Argument(help="NGO organisation name.")],
    units: Annotated[
        str,
        typer.Option(
            help="Admin units covered, as level:code or level:name, comma-separated: "
            "'district:PK703,tehsil:PK70302,district:Nowshera'. Ambiguous or unknown names "
            "are refused with the candidates."
        ),
    ],
    fields: Annotated[
        str, typer.Option(help="Fields allowed, comma-separated ('score_*' patterns allowed).")
    ],
    valid_to: Annotated[str, typer.Option(help="Last valid day, YYYY-MM-DD.")],
    purpose: Annotated[str, typer.Option(help="What the data may be used for.")],
    valid_from: Annotated[str | None, typer.Option(help="First valid day (default today).")] = None,
    max_rows: Annotated[int, typer.Option(help="Most household rows per request.")] = 10_000,
) -> None:
    """Record a data-sharing agreement with an NGO."""
    from rahat.api.service.admin import add_agreement
    from rahat.api.service.policy import agreement_units, parse_list

    def day(text: str, option: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD") from None

    with _session() as session:
        agreement = add_agreement(
            session,
            org,
            units=parse_list(units),
            fields=parse_list(fields),
            purpose=purpose,
            valid_from=day(valid_from, "valid-from") if valid_from else None,
            valid_to=day(valid_to, "valid-to"),
            max_rows=max_rows,
        )
        typer.echo(
            f"agreement {agreement.id} for {org!r}: {len(agreement.admin_units)} unit(s), "
            f"{len(agreement.fields)} field(s), valid {agreement.valid_from} to "
            f"{agreement.valid_to}, at most {agreement.max_rows} rows per request"
        )
        for unit in agreement_units(agreement.admin_units):
            typer.echo(f"  covers {unit.describe()}")


@agreement_app.command("list")
def agreement_list(
    org: Annotated[str | None, typer.Argument(help="Only this organisation.")] = None,
) -> None:
    """List data-sharing agreements."""
    from rahat.api.service.admin import list_agreements

    with _session() as session:
        for a in list_agreements(session, org):
            typer.echo(
                f"{a.id}\t{a.organisation.name}\t{a.valid_from}..{a.valid_to}\t"
                f"max {a.max_rows}\tunits={','.join(a.admin_units)}\t"
                f"fields={','.join(a.fields)}\t{a.purpose}"
            )


def _instant(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date or time; use ISO 8601, e.g. 2024-05-01T00:00:00Z",
            param_hint=f"--{option}",
        ) from None


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name for this uid
        return "unknown"


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="File to write (replaced atomically).")],
    format: Annotated[str, typer.Option(help="csv or jsonl.")] = "csv",
    run_id: Annotated[str | None, typer.Option(help="Only entries of this run.")] = None,
    organisation: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    since: Annotated[str | None, typer.Option(help="At or after this instant (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this instant (ISO).")] = None,
) -> None:
    """Export the audit log as CSV or JSON Lines (the export is itself audited)."""
    import sys

    from rahat.api.service import audit
    from rahat.api.service.audit_export import AuditFilter, encode, iter_entries, snapshot
    from rahat.api.service.security import Principal
    from rahat.api.service.storage import AtomicUpload

    if format not in ("csv", "jsonl"):
        raise typer.BadParameter(f"{format!r}: use csv or jsonl", param_hint="--format")
    from rahat.api.cli._common import user_errors
    from rahat.api.cli._outputs import check_output_file

    with user_errors():
        check_output_file(out.expanduser(), "--out")
    fmt: Literal["csv", "jsonl"] = "csv" if format == "csv" else "jsonl"
    first, last = _instant(since, "since"), _instant(until, "until")
    with _sessions() as factory:
        flt = AuditFilter(run_id, organisation, action, first, last)
        with factory() as session:
            up_to, count = snapshot(session, flt)
        target = AtomicUpload(out.expanduser(), max_bytes=sys.maxsize)
        outcome = 500
        try:
            for chunk in encode(iter_entries(factory, flt, up_to), fmt):
                target.write(chunk)
            target.commit()
            outcome = 200
        finally:
            if outcome != 200:
                target.abort()
            audit.record(
                factory,
                Principal(organisation_id=0, organisation=f"cli:{_operator()}", role="cli"),
                "audit.export",
                outcome,
                filter={**flt.as_dict(), "format": fmt, "out": str(out)},
                rows=count if outcome == 200 else 0,
                method="CLI",
                path="rahat audit export",
            )
    typer.echo(f"{count} audit entries written to {out}")
