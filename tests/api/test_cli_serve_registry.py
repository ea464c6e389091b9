"""``rahat serve`` says which registry it serves, and refuses runs when it has none."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import add_hazard_record, flood_scenario, make_settings, populate
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from rahat.api.cli import app as cli
from rahat.api.service.app import create_app
from rahat.api.service.models import Run


def _run_body(app: object, agency_id: int) -> dict[str, object]:
    hazard_id = add_hazard_record(app, agency_id)  # type: ignore[arg-type]
    return {"scenario": flood_scenario(), "hazards": {"warning": hazard_id}}


def test_healthz_and_runs_without_a_registry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, registry_path=tmp_path / "nowhere" / "registry.parquet")
    app = create_app(settings)
    with caplog.at_level(logging.INFO, logger="rahat.api"), TestClient(app) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        registry = health.json()["registry"]
        assert registry["name"] == "registry.parquet"
        assert registry["exists"] is False and registry["households"] is None
        assert "RAHAT_REGISTRY_PATH" in registry["hint"] and "rahat demo" in registry["hint"]
        assert str(tmp_path) not in health.text  # never a server path

        tokens, org_ids = populate(app)
        body = _run_body(app, org_ids["agency"])
        refused = client.post(
            "/runs", json=body, headers={"Authorization": f"Bearer {tokens['agency']}"}
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "no registry" in refused.json()["detail"]
        assert "RAHAT_REGISTRY_PATH" in refused.json()["detail"]
        assert str(tmp_path) not in refused.text
        with app.state.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(Run)) == 0  # no doomed job
    started = [r.getMessage() for r in caplog.records if "Rahat serves" in r.getMessage()]
    assert started and "registry.parquet: missing" in started[0]
    assert str(tmp_path) not in started[0]


def test_healthz_counts_the_households_of_the_registry(
    tmp_path: Path, registry_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path, registry_path=registry_file))
    with caplog.at_level(logging.INFO, logger="rahat.api"), TestClient(app) as client:
        registry = client.get("/healthz").json()["registry"]
    households = pq.ParquetFile(registry_file).metadata.num_rows
    assert registry == {
        "name": registry_file.name,
        "exists": True,
        "households": households,
        "hint": None,
    }
    assert any(f"{households:,} households" in r.getMessage() for r in caplog.records)


def test_serve_names_its_registry_at_start(
    tmp_path: Path, registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    runner = CliRunner()
    env = {"RAHAT_STATE_DIR": str(tmp_path / "state"), "RAHAT_CACHE_DIR": str(tmp_path / "c")}
    missing = runner.invoke(
        cli, ["serve"], env={**env, "RAHAT_REGISTRY_PATH": str(tmp_path / "none.parquet")}
    )
    assert missing.exit_code == 0, missing.output
    assert "registry none.parquet: missing" in missing.stderr
    assert "RAHAT_REGISTRY_PATH" in missing.stderr and str(tmp_path) not in missing.stderr

    present = runner.invoke(cli, ["serve"], env={**env, "RAHAT_REGISTRY_PATH": str(registry_file)})
    households = pq.ParquetFile(registry_file).metadata.num_rows
    assert f"registry {registry_file.name}: {households:,} households" in present.stderr
    assert len(calls) == 2
