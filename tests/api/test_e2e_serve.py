"""End to end: ``rahat serve`` as a real process, driven over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import (
    REAL_HAZARD,
    ServerProcess,
    api_client,
    flood_scenario,
    ngo_agreement,
    run_succeeded,
)


@pytest.fixture
def server(real_server: Callable[..., Any]) -> tuple[ServerProcess, dict[str, str]]:
    agreement = ngo_agreement(
        "Relief NGO",
        "province:Sindh,province:Punjab",
        "district,tehsil,benefit,rank",
        "--max-rows",
        "100000",
    )
    return real_server({"PDMA Sindh": "agency", "Relief NGO": "ngo", "NDMA": "admin"}, agreement)


def test_serve_upload_run_export_audit(server: tuple[ServerProcess, dict[str, str]]) -> None:
    proc, tokens = server

    def client(role: str) -> httpx.Client:
        return api_client(proc, tokens[role], timeout=60)

    with client("agency") as agency, client("ngo") as ngo, client("admin") as admin:
        docs = agency.get("/docs")
        assert docs.status_code == 200
        # offline: Swagger UI from the package, nothing from a CDN
        assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
        bundle = agency.get("/static/swagger-ui/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:4000]
        assert agency.get("/static/swagger-ui/swagger-ui.css").status_code == 200
        assert agency.get("/static/../app.py").status_code == 404
        assert agency.get("/openapi.json").json()["info"]["title"] == "Rahat Relief API"
        with open(REAL_HAZARD, "rb") as fh:
            r = agency.post(
                "/hazards",
                files={"file": (REAL_HAZARD.name, fh)},
                data={"name": "warning", "kind": "flood_extent"},
            )
        assert r.status_code == 201, r.text
        hazard_id = r.json()["id"]
        r = agency.post(
            "/runs", json={"scenario": flood_scenario(), "hazards": {"warning": hazard_id}}
        )
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        run_succeeded(agency, run_id)

        # Private to the agency until it publishes the run under the NGO's agreement.
        assert ngo.get(f"/runs/{run_id}/households", params={"format": "csv"}).status_code == 404
        assert ngo.get("/runs").json() == []
        r = agency.post(f"/runs/{run_id}/publish", json={"agreements": [1]})
        assert r.status_code == 200 and r.json()["agreements"] == [1], r.text
        assert [run["id"] for run in ngo.get("/runs").json()] == [run_id]
        r = agency.get(f"/runs/{run_id}/map.png")
        assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
        r = ngo.get(f"/runs/{run_id}/households", params={"format": "csv"})
        assert r.status_code == 200, r.text
        csv_rows = pacsv.read_csv(io.BytesIO(r.content))
        assert csv_rows.column_names == ["household_ref", "rank", "benefit", "district", "tehsil"]
        r = ngo.get(f"/runs/{run_id}/households", params={"format": "parquet"})
        assert r.status_code == 200
        parquet_rows = pq.read_table(io.BytesIO(r.content))
        assert parquet_rows.num_rows == csv_rows.num_rows > 0
        assert parquet_rows["household_ref"].to_pylist() == csv_rows["household_ref"].to_pylist()
        assert ngo.get(f"/runs/{run_id}/summary").status_code == 403

        events = admin.get("/audit", params={"run_id": run_id}).json()
        exports = [e for e in events if e["action"] == "households.export" and e["outcome"] == 200]
        assert [e["filter"]["format"] for e in exports] == ["csv", "parquet"]
        assert all(
            e["organisation"] == "Relief NGO" and e["rows"] == csv_rows.num_rows for e in exports
        )
        assert any(e["action"] == "runs.create" for e in events)
        assert any(e["action"] == "runs.publish" and e["outcome"] == 200 for e in events)
        assert ngo.get("/audit").status_code == 403
