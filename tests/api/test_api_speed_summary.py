"""``GET /runs/{id}/summary`` answers from bytes encoded once (issue 12): the same bytes as before.

The route used to return a ``SummaryOut`` that FastAPI validated and encoded on every request;
it now answers with the encoding kept per run, caseload, threshold and level. The answer must
be byte for byte what FastAPI wrote, for every level and caller, and a rewritten caseload must
be encoded again.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import Service, caseload_table
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rahat.api.service import run_requests
from rahat.api.service.schemas import SummaryOut
from rahat.api.service.security import Principal


def _reference(service: Service, who: str, run_id: str, level: str) -> tuple[bytes, str]:
    """The body and content type of the summary as FastAPI encodes a ``SummaryOut``."""
    app = service.app
    sessions = app.state.sessionmaker
    role = {"admin": "admin", "agency": "agency", "planner": "planner"}[who]
    principal = Principal(organisation_id=service.org_ids[who], organisation=who, role=role)
    reference = FastAPI()

    @reference.get("/s", response_model=SummaryOut)
    def summary() -> SummaryOut:
        with sessions() as session:
            figures = run_requests.run_summary(
                session, principal, run_id, app.state.settings, level
            )
        return SummaryOut(run_id=run_id, **figures)

    with TestClient(reference) as client:
        r = client.get("/s")
    return r.content, r.headers["content-type"]


@pytest.mark.parametrize("who", ["admin", "agency"])
@pytest.mark.parametrize("level", ["province", "district", "tehsil"])
def test_summary_bytes_as_fastapi_encoded_them(service: Service, who: str, level: str) -> None:
    for _ in range(2):  # encoded, then from the kept bytes
        r = service.get(who, f"/runs/{service.run_id}/summary", params={"level": level})
        assert r.status_code == 200
        body, content_type = _reference(service, who, service.run_id, level)
        assert r.content == body
        assert r.headers["content-type"] == content_type
        assert r.headers["content-length"] == str(len(body))


def test_rewritten_caseload_is_encoded_again(fresh_service: Service) -> None:
    s = fresh_service
    url = f"/runs/{s.run_id}/summary"
    first = s.get("admin", url).json()
    caseload = Path(s.app.state.settings.runs_dir) / s.run_id / "caseload.parquet"
    pq.write_table(caseload_table(seed=5).slice(0, 40), caseload)
    second = s.get("admin", url).json()
    assert second["totals"]["households"] == 40 != first["totals"]["households"]
    assert s.get("admin", url).content == _reference(s, "admin", s.run_id, "district")[0]


def test_summary_access_still_checked(service: Service) -> None:
    url = f"/runs/{service.run_id}/summary"
    assert service.get("admin", url).status_code == 200  # encoded and kept for admins
    assert service.get(None, url).status_code == 401
    assert service.get("ngo", url).status_code == 403
    assert service.get("planner", url).status_code == 404  # not the planner's run
    assert service.get("agency", "/runs/nope/summary").status_code == 404
