"""The audit log records every access once; it exports; refusals never show server paths."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REAL_HAZARD, Service, cli_ok, server_env
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from testkit import zip_bytes

from rahat.api.service import audit
from rahat.api.service.models import AuditEvent, Hazard, Run
from rahat.api.service.redact import PLACEHOLDER, redact_paths
from rahat.api.service.security import token_prefix
from rahat.geo.errors import InputError

# -- helpers --------------------------------------------------------------------------------


def last_id(service: Service) -> int:
    with service.app.state.sessionmaker() as session:
        return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


def events_after(service: Service, after: int) -> list[AuditEvent]:
    with service.app.state.sessionmaker() as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id))
        )


def one_event(service: Service, call: Callable[[], Any]) -> tuple[Any, AuditEvent]:
    """Make one request; return its response and the single audit event it left."""
    before = last_id(service)
    response = call()
    events = events_after(service, before)
    assert len(events) == 1, [(e.method, e.path, e.outcome) for e in events]
    return response, events[0]


def prefix_of(service: Service, who: str) -> str:
    return token_prefix(service.tokens[who])


def audit_table_text(service: Service) -> str:
    """Every value of every audit row, as one string."""
    with service.app.state.sessionmaker() as session:
        rows = session.execute(text("SELECT * FROM audit_events")).all()
    return "\n".join(repr(tuple(row)) for row in rows)


# -- one event per request ------------------------------------------------------------------


def test_anonymous_request_is_recorded(service: Service) -> None:
    r, e = one_event(service, lambda: service.get(None, f"/runs/{service.run_id}/summary"))
    assert r.status_code == 401
    assert (e.outcome, e.organisation, e.role, e.key_prefix) == (401, "", "anonymous", None)
    assert (e.method, e.route, e.action) == ("GET", "/runs/{run_id}/summary", "runs.summary")
    assert e.path == f"/runs/{service.run_id}/summary" and e.run_id == service.run_id


def test_bad_token_is_recorded_by_prefix_only(service: Service) -> None:
    token = "rahat_" + "NotARealKeyButLongEnough0123456789abcdefghi"
    r, e = one_event(
        service,
        lambda: service.client.get(
            "/runs", params={"status": "queued"}, headers={"Authorization": f"Bearer {token}"}
        ),
    )
    assert r.status_code == 401
    assert e.outcome == 401 and e.role == "anonymous" and e.organisation == ""
    assert e.key_prefix == token_prefix(token) and e.action == "runs.list"
    assert e.filter == {"status": "queued"}
    # a token sent in a query parameter by mistake is cut to its prefix as well
    other = "rahat_" + "AnotherSecretThatMustNotBeLogged_0123456789"
    r, e = one_event(service, lambda: service.get(None, "/hazards", params={"key": other}))
    assert r.status_code == 401 and e.filter["key"].startswith(token_prefix(other))
    # a token not shaped like ours gives no prefix
    r, e = one_event(
        service,
        lambda: service.client.get("/runs", headers={"Authorization": "Bearer abc.def.ghi"}),
    )
    assert r.status_code == 401 and e.key_prefix is None
    stored = audit_table_text(service)
    assert token not in stored and other not in stored and "abc.def.ghi" not in stored
    assert all(t not in stored for t in service.tokens.values())


def test_role_refusal_is_recorded(service: Service) -> None:
    r, e = one_event(service, lambda: service.get("ngo", f"/runs/{service.run_id}/summary"))
    assert r.status_code == 403
    assert (e.outcome, e.organisation, e.role) == (403, "ngo", "ngo")
    assert e.key_prefix == prefix_of(service, "ngo") and e.action == "runs.summary"
    assert e.run_id == service.run_id


def test_summary_read_is_recorded(service: Service) -> None:
    r, e = one_event(
        service,
        lambda: service.get(
            "planner", f"/runs/{service.planner_run_id}/summary", params={"level": "province"}
        ),
    )
    assert r.status_code == 200, r.text
    assert (e.outcome, e.organisation, e.role) == (200, "planner", "planner")
    assert e.action == "runs.summary" and e.rows == 0
    assert e.run_id == service.planner_run_id and e.filter == {"level": "province"}


def test_compare_read_is_recorded(service: Service) -> None:
    body = {"run_a": service.run_id, "run_b": service.other_run_id, "level": "province"}
    r, e = one_event(service, lambda: service.post("agency", "/runs/compare", json=body))
    assert r.status_code == 200, r.text
    assert (e.outcome, e.organisation, e.action, e.method) == (
        200,
        "agency",
        "runs.compare",
        "POST",
    )
    assert e.route == "/runs/compare" and e.run_id == service.run_id
    assert e.filter == body


def test_map_read_is_recorded(service: Service) -> None:
    r, e = one_event(service, lambda: service.get("agency", f"/runs/{service.run_id}/map.png"))
    assert r.status_code == 200
    assert (e.outcome, e.organisation, e.action) == (200, "agency", "runs.map")
    assert e.route == "/runs/{run_id}/map.png" and e.run_id == service.run_id


def test_failed_upload_is_recorded(service: Service, tmp_path: Path) -> None:
    def send() -> Any:
        return service.post(
            "agency",
            "/hazards",
            files={"file": ("flood.tif", b"II*\x00 not a GeoTIFF at all" * 50)},
            data={"kind": "flood_depth"},
        )

    r, e = one_event(service, send)
    assert 400 <= r.status_code < 500, r.text
    assert (e.outcome, e.organisation, e.role) == (r.status_code, "agency", "agency")
    assert e.action == "hazards.upload" and e.method == "POST" and e.route == "/hazards"
    assert e.filter["filename"] == "flood.tif" and e.filter["size"] > 0
    # refused before the handler (not multipart): still one event, same action
    r, e = one_event(service, lambda: service.post("agency", "/hazards", json={"file": "x"}))
    assert r.status_code == 415 and (e.outcome, e.action) == (415, "hazards.upload")
    # and for a role that may not upload
    r, e = one_event(service, lambda: service.post("ngo", "/hazards", json={}))
    assert r.status_code == 403 and (e.outcome, e.action, e.role) == (403, "hazards.upload", "ngo")


def test_household_export_is_recorded(service: Service) -> None:
    r, e = one_event(
        service,
        lambda: service.get(
            "ngo", f"/runs/{service.run_id}/households", params={"format": "csv", "limit": 7}
        ),
    )
    assert r.status_code == 200, r.text
    header = r.text.splitlines()[0].replace('"', "").split(",")
    assert (e.outcome, e.organisation, e.action) == (200, "ngo", "households.export")
    assert e.rows == 7 == len(r.text.splitlines()) - 1
    assert e.fields == header and "household_ref" in e.fields
    assert e.agreement_id is not None and e.run_id == service.run_id
    assert e.filter["format"] == "csv" and e.filter["limit"] == 7
    # a role refused before the handler still gets the export's action name
    r, e = one_event(service, lambda: service.get("planner", f"/runs/{service.run_id}/households"))
    assert r.status_code == 403 and (e.action, e.role, e.rows) == (
        "households.export",
        "planner",
        0,
    )


def test_not_found_is_recorded(service: Service) -> None:
    r, e = one_event(service, lambda: service.get("admin", "/runs/nosuchrun"))
    assert r.status_code == 404
    assert (e.outcome, e.organisation, e.action) == (404, "admin", "runs.read")
    assert e.route == "/runs/{run_id}" and e.run_id == "nosuchrun"
    r, e = one_event(service, lambda: service.get("admin", "/nowhere", params={"a": "1"}))
    assert r.status_code == 404
    assert (e.outcome, e.action, e.route, e.path) == (404, "unrouted", None, "/nowhere")
    assert e.key_prefix == prefix_of(service, "admin") and e.filter == {"a": "1"}
    r, e = one_event(service, lambda: service.get("admin", "/runs", params={"limit": 0}))
    assert r.status_code == 422 and e.outcome == 422 and e.filter == {"limit": "0"}


def test_health_check_is_not_recorded(service: Service) -> None:
    before = last_id(service)
    assert service.client.get("/healthz").status_code == 200
    assert service.client.get("/openapi.json").status_code == 200
    assert [(e.method, e.path, e.route) for e in events_after(service, before)] == []


def test_server_errors_are_recorded(fresh_service: Service) -> None:
    s = fresh_service

    def boom() -> None:
        raise RuntimeError("boom")

    s.app.add_api_route("/boom", boom, methods=["GET"])
    r, e = one_event(s, lambda: s.get("admin", "/boom"))
    assert r.status_code == 500 and e.outcome == 500 and e.action == "boom.list"


def test_unauditable_access_is_refused(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fresh_service

    def fail(*_args: object) -> None:
        raise OSError("database is gone")

    monkeypatch.setattr(audit, "write", fail)
    r = s.get("admin", "/runs")
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem")
    assert "audit" in r.json()["detail"]
    r = s.get("ngo", f"/runs/{s.run_id}/households", params={"format": "csv", "limit": 5})
    assert r.status_code == 500 and "household_ref" not in r.text
    # a refusal releases nothing: it is answered as it is
    assert s.get(None, "/runs").status_code == 401


# -- append-only ----------------------------------------------------------------------------


def test_audit_log_refuses_update_and_delete(fresh_service: Service) -> None:
    sessions = fresh_service.app.state.sessionmaker
    fresh_service.get(None, "/runs")
    for statement in (
        "UPDATE audit_events SET key_prefix = NULL",
        "UPDATE audit_events SET outcome = 200",
        "DELETE FROM audit_events",
    ):
        with sessions() as session, pytest.raises(DBAPIError):
            session.execute(text(statement))
            session.commit()
    with sessions() as session:
        event = session.scalars(select(AuditEvent)).first()
        assert event is not None and event.outcome == 401
        event.path = "/elsewhere"
        with pytest.raises(PermissionError):
            session.commit()


# -- export ---------------------------------------------------------------------------------


def test_export_endpoint(fresh_service: Service) -> None:
    s = fresh_service
    s.get("ngo", f"/runs/{s.run_id}/households", params={"limit": 3})
    s.get(None, "/runs")
    with s.app.state.sessionmaker() as session:
        stored = session.scalar(select(func.count()).select_from(AuditEvent))

    r, e = one_event(s, lambda: s.get("admin", "/audit/export", params={"format": "csv"}))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == stored == int(r.headers["x-row-count"])
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)
    export = next(row for row in rows if row["action"] == "households.export")
    assert json.loads(export["filter"])["limit"] == 3 and int(export["rows"]) == 3
    assert "household_ref" in json.loads(export["fields"])
    assert any(row["outcome"] == "401" and row["role"] == "anonymous" for row in rows)
    assert (e.action, e.outcome, e.role, e.rows) == ("audit.export", 200, "admin", stored)
    assert e.filter["format"] == "csv" and "key_prefix" in e.fields

    r = s.get("admin", "/audit/export", params={"format": "jsonl", "organisation": "ngo"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines and all(x["organisation"] == "ngo" for x in lines)
    assert lines[0]["action"] == "households.export" and lines[0]["rows"] == 3
    r = s.get("admin", "/audit/export", params={"format": "jsonl", "action": "audit.export"})
    assert [x["filter"]["format"] for x in map(json.loads, r.text.splitlines())] == ["csv", "jsonl"]

    since = lines[0]["at"]
    r = s.get("admin", "/audit/export", params={"format": "jsonl", "since": since})
    assert r.status_code == 200 and all(json.loads(x)["at"] >= since for x in r.text.splitlines())
    r = s.get("admin", "/audit/export", params={"format": "jsonl", "until": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.text == ""
    r = s.get("admin", "/audit", params={"until": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json() == []
    assert s.get("admin", "/audit/export", params={"format": "xml"}).status_code == 422

    for who, status in (("ngo", 403), ("planner", 403), ("agency", 403), (None, 401)):
        r, e = one_event(s, lambda who=who: s.get(who, "/audit/export"))
        assert r.status_code == status and (e.outcome, e.action) == (status, "audit.export")
        assert "id,at" not in r.text


def test_cli_export(fresh_service: Service, tmp_path: Path) -> None:
    s = fresh_service
    s.get("ngo", f"/runs/{s.run_id}/households", params={"limit": 2})
    env = server_env(s.app.state.settings)
    before = last_id(s)
    out = tmp_path / "out" / "audit.jsonl"
    cli_ok(env, "audit", "export", "--format", "jsonl", "--out", str(out), "--organisation", "ngo")
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert entries and all(x["organisation"] == "ngo" for x in entries)
    assert any(x["action"] == "households.export" and x["rows"] == 2 for x in entries)
    assert not list(out.parent.glob(".tmp-*"))
    (e,) = events_after(s, before)
    assert (e.action, e.method, e.role, e.rows) == ("audit.export", "CLI", "cli", len(entries))
    assert e.organisation.startswith("cli:") and e.filter["organisation"] == "ngo"

    out_csv = tmp_path / "audit.csv"
    cli_ok(env, "audit", "export", "--out", str(out_csv))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == last_id(s) - 1 and rows[-1]["action"] == "audit.export"

    from typer.testing import CliRunner

    from rahat.api.cli.main import app as cli

    for args in (["--format", "xml"], ["--since", "yesterday"]):
        result = CliRunner().invoke(cli, ["audit", "export", "--out", str(out_csv), *args], env=env)
        assert result.exit_code == 2, result.output


# -- no server paths ------------------------------------------------------------------------


def geotiff_bytes(crs: str | None = "EPSG:4326") -> bytes:
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    data = np.linspace(0, 3, 64 * 64, dtype=np.float32).reshape(64, 64)
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": 1,
        "dtype": "float32",
        "transform": from_origin(67.0, 26.0, 0.01, 0.01),
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    if crs is not None:
        profile["crs"] = crs
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data, 1)
        return bytes(mem.read())


def bad_files() -> dict[str, bytes]:
    tif = geotiff_bytes()
    return {
        "truncated.tif": tif[: len(tif) // 2],
        "nocrs.tif": geotiff_bytes(crs=None),
        "latin1.geojson": '{"type": "FeatureCollection", "name": "Sükkur"'.encode("latin-1")
        + b"\xff\xfe\x00",
        "empty.geojson": b'{"type": "FeatureCollection", "features": []}',
        "notes.zip": zip_bytes({"readme.txt": b"not a shapefile"}),
        "evil.zip": zip_bytes({"../../outside.geojson": b"{}"}),
        "cut.zip": b"PK\x03\x04" + b"\x00" * 20,
        "points.csv": b"lon,lat,depth\n67.1,26.1,deep\n67.2,26.2,shallow\n",
        "random.bin": bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)),
    }


@pytest.mark.parametrize("name", sorted(bad_files()))
def test_refused_uploads_show_no_server_path(service: Service, name: str) -> None:
    settings = service.app.state.settings
    r = service.post("agency", "/hazards", files={"file": (name, bad_files()[name])})
    assert 400 <= r.status_code < 500, r.text
    detail = r.json()["detail"]
    assert name in detail, detail
    for path in (settings.state_dir, settings.hazards_dir):
        assert str(path) not in detail and str(path.resolve()) not in detail, detail
    assert ".tmp-" not in detail and PLACEHOLDER not in detail, detail
    assert not list(settings.hazards_dir.rglob(".tmp-*"))


def test_upload_keeps_the_uploaded_name(service: Service) -> None:
    with open(REAL_HAZARD, "rb") as fh:
        r = service.post("agency", "/hazards", files={"file": (REAL_HAZARD.name, fh)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["filename"] == REAL_HAZARD.name and body["name"] == REAL_HAZARD.stem
    assert body["inspect"]["provenance"]["file_name"] == REAL_HAZARD.name
    assert ".tmp-" not in json.dumps(body)
    with service.app.state.sessionmaker() as session:
        hazard = session.get(Hazard, body["id"])
        assert hazard is not None and hazard.filename == REAL_HAZARD.name
        assert hazard.inspect["provenance"]["file_name"] == REAL_HAZARD.name
        assert Path(hazard.path).name == REAL_HAZARD.name
    folder = service.app.state.settings.hazards_dir / body["id"]
    assert [p.name for p in folder.iterdir()] == [REAL_HAZARD.name]


def test_validator_reads_the_upload_under_its_name(
    fresh_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rahat.api.service.routers import hazards

    seen: list[Path] = []
    validate = hazards._validate

    def spy(path: Path, *args: Any) -> Any:
        seen.append(path)
        return validate(path, *args)

    monkeypatch.setattr(hazards, "_validate", spy)
    with open(REAL_HAZARD, "rb") as fh:
        r = fresh_service.post("agency", "/hazards", files={"file": ("my flood.geojson", fh)})
    assert r.status_code == 201, r.text
    (path,) = seen
    assert path.name == "my_flood.geojson" == r.json()["filename"]
    assert path.parent.name.startswith(".tmp-") and not path.parent.exists()


def test_atomic_upload_in_private_folder(tmp_path: Path) -> None:
    from rahat.api.service.storage import AtomicUpload

    final = tmp_path / "h1" / "depth.tif"
    upload = AtomicUpload(final, max_bytes=10, private_dir=True)
    upload.write(b"123")
    assert upload.temp_path.name == "depth.tif" and upload.temp_path.parent.parent == final.parent
    assert upload.commit() == final and final.read_bytes() == b"123"
    assert [p.name for p in final.parent.iterdir()] == ["depth.tif"]
    other = AtomicUpload(tmp_path / "h2" / "x.tif", max_bytes=10, private_dir=True)
    other.write(b"1")
    other.abort()
    assert list((tmp_path / "h2").iterdir()) == []


def test_problem_documents_show_no_server_path(fresh_service: Service) -> None:
    s = fresh_service
    settings = s.app.state.settings
    where = settings.hazards_dir.resolve() / "abc" / "depth.tif"

    def refuse_input() -> None:
        raise InputError("cannot read it", source=where)

    def refuse_http() -> None:
        from fastapi import HTTPException

        raise HTTPException(409, f"busy: {settings.state_dir}/lock and {settings.scenarios_dir}")

    s.app.add_api_route("/refuse-input", refuse_input, methods=["GET"])
    s.app.add_api_route("/refuse-http", refuse_http, methods=["GET"])
    for url, status in (("/refuse-input", 422), ("/refuse-http", 409)):
        r = s.get("admin", url)
        assert r.status_code == status
        detail = r.json()["detail"]
        assert PLACEHOLDER in detail and str(settings.state_dir) not in detail, detail
        assert str(settings.state_dir.resolve()) not in detail, detail
    assert (
        s.get("admin", "/refuse-input").json()["detail"].endswith("/abc/depth.tif: cannot read it")
    )


def test_redact_paths(service: Service) -> None:
    settings = service.app.state.settings
    message = (
        f"{settings.hazards_dir.resolve()}/abc/flood.tif: bad; see {settings.state_dir}/x, "
        f"{settings.registry_path} and {settings.scenarios_dir}/a.yaml; "
        f"{settings.hazards_dir}/.tmp-{'0' * 32}/flood.tif"
    )
    out = redact_paths(message, settings)
    assert str(settings.state_dir) not in out and str(settings.state_dir.resolve()) not in out
    assert str(settings.scenarios_dir) not in out and ".tmp-" not in out
    assert out.startswith(f"{PLACEHOLDER}/abc/flood.tif: bad") and "state" not in out
    assert redact_paths("the state of Sindh", settings) == "the state of Sindh"


def test_run_errors_show_no_server_path(fresh_service: Service) -> None:
    s = fresh_service
    settings = s.app.state.settings
    jobs = s.app.state.jobs

    def failing_runner(scenario: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        raise InputError("cannot read it", source=settings.hazards_dir.resolve() / "h1" / "x.tif")

    jobs.runner = failing_runner
    with s.app.state.sessionmaker() as session, session.begin():
        run = Run(scenario={"name": "x"}, hazards={}, created_by=s.org_ids["agency"])
        session.add(run)
        session.flush()
        run_id = run.id
    jobs.submit(run_id)
    jobs.wait(run_id, timeout=60)
    body = s.get("agency", f"/runs/{run_id}").json()
    assert body["status"] == "failed" and "x.tif: cannot read it" in body["error"]
    assert str(settings.state_dir.resolve()) not in body["error"]
    assert str(settings.state_dir) not in body["error"]
