"""Administration CLI, API keys, the append-only audit log, atomic storage, problem documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Service, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.api.service.app import create_app
from rahat.api.service.models import AuditEvent
from rahat.api.service.storage import AtomicUpload, publish_dir, sweep_temporaries, temp_dir_for
from rahat.geo.errors import TooLargeError


def test_cli_manages_orgs_keys_and_agreements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("RAHAT_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("RAHAT_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    ok("org", "add", "Relief NGO", "--role", "ngo")
    ok("org", "add", "PDMA Sindh", "--role", "agency")
    token = ok("key", "create", "Relief NGO").strip()
    assert token.startswith("rahat_")
    ok(
        "agreement",
        "add",
        "Relief NGO",
        "--units",
        "district:Dadu,PK701",
        "--fields",
        "household_id,district",
        "--valid-to",
        "2099-01-01",
        "--max-rows",
        "500",
        "--purpose",
        "food distribution",
    )
    assert "Relief NGO\tngo\t1 active key(s)" in ok("org", "list")
    assert "units=district:PK703,district:PK701" in ok("agreement", "list")

    def refused(units: str, fields: str) -> str:
        args = ["agreement", "add", "Relief NGO", "--units", units, "--fields", fields]
        args += ["--valid-to", "2099-01-01", "--purpose", "p"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        return result.output

    # Finding 9.1: names are resolved once, by level; ambiguous, unknown, ungrantable refused.
    out = refused("Nowshera", "district")
    assert "district:PK-KP/nowshera" in out and "tehsil:PK-PB/khushab/nowshera" in out
    assert "tehsil:PK70301" in refused("Dadu", "district")
    assert "district:PK703" in refused("Daddu", "district")
    assert "closest" in refused("district:Daddu", "district")
    assert "not a caseload column" in refused("district:Dadu", "district,name")
    assert "not a caseload column" in refused("district:Dadu", "phone")
    assert "matches no caseload column" in refused("district:Dadu", "cnic*")
    assert "not of a tehsil" in refused("tehsil:PK703", "district")
    assert "units=district:PK703,district:PK701" in ok("agreement", "list")

    for args, needle in (
        (["org", "add", "X", "--role", "boss"], "unknown role"),
        (
            [
                "agreement",
                "add",
                "PDMA Sindh",
                "--units",
                "Dadu",
                "--fields",
                "district",
                "--valid-to",
                "2099-01-01",
                "--purpose",
                "p",
            ],
            "agreements are for NGOs",
        ),
        (
            [
                "agreement",
                "add",
                "Relief NGO",
                "--units",
                "Dadu",
                "--fields",
                "district",
                "--valid-to",
                "soon",
                "--purpose",
                "p",
            ],
            "not a date",
        ),
        (["key", "revoke", "rahat_nonexistent"], "no API key"),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2 and needle in result.output, result.output

    app = create_app(settings)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/runs", headers=auth).status_code == 200
        ok("key", "revoke", token[:16])
        r = client.get("/runs", headers=auth)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_audit_log_is_append_only(fresh_service: Service) -> None:
    sessions = fresh_service.app.state.sessionmaker
    fresh_service.get("ngo", f"/runs/{fresh_service.run_id}/households")
    with sessions() as session:
        event = session.query(AuditEvent).first()
        assert event is not None
        event.rows = 0
        with pytest.raises(PermissionError):
            session.commit()
    for statement in ("UPDATE audit_events SET rows = 0", "DELETE FROM audit_events"):
        with sessions() as session, pytest.raises(DBAPIError):
            session.execute(text(statement))
            session.commit()
    with sessions() as session:
        assert session.query(AuditEvent).count() >= 1


def test_problem_documents(service_like: Service) -> None:
    s = service_like
    r = s.get("admin", "/runs", params={"limit": 0})
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["loc"] == "query.limit" and "limit" in body["detail"]
    r = s.get("admin", "/nowhere")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem")
    r = s.client.delete("/runs", headers=s.headers("admin"))
    assert r.status_code == 405
    r = s.client.post(
        "/runs",
        content=b"{not json",
        headers={**s.headers("agency"), "content-type": "application/json"},
    )
    assert r.status_code == 422


@pytest.fixture
def service_like(fresh_service: Service) -> Service:
    return fresh_service


def test_atomic_upload(tmp_path: Path) -> None:
    final = tmp_path / "h" / "flood.tif"
    upload = AtomicUpload(final, max_bytes=10)
    upload.write(b"12345")
    assert not final.exists() and upload.temp_path.exists()
    assert upload.temp_path.suffix == ".tif" and upload.temp_path.parent == final.parent
    upload.commit()
    assert final.read_bytes() == b"12345" and not upload.temp_path.exists()

    big = AtomicUpload(tmp_path / "h" / "big.tif", max_bytes=4)
    with pytest.raises(TooLargeError, match="RAHAT_MAX_UPLOAD_BYTES"):
        big.write(b"12345")
    assert sorted(p.name for p in final.parent.iterdir()) == ["flood.tif"]


def test_publish_dir_and_sweep(tmp_path: Path) -> None:
    final = tmp_path / "runs" / "abc"
    work = temp_dir_for(final)
    (work / "caseload.parquet").write_bytes(b"x")
    assert not final.exists()
    publish_dir(work, final)
    assert (final / "caseload.parquet").read_bytes() == b"x" and not work.exists()
    debris = temp_dir_for(tmp_path / "runs" / "def")
    (debris / "half.parquet").write_bytes(b"half")
    removed = sweep_temporaries(tmp_path / "runs")
    assert removed == [debris] and final.exists()
