"""Hazard uploads and scenario runs through the real geo reader and engine pipeline."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from conftest import REAL_HAZARD, TODAY, Service, flood_scenario, make_settings, start_service
from conftest import wait_for_run as wait_for

from rahat.api.service.admin import add_agreement


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("live")
    settings = make_settings(root, registry_path=registry_file, max_upload_bytes=4_000_000)
    settings.scenarios_dir.mkdir()
    yield from start_service(settings)


def upload(service: Service, who: str, path: Path, **form: str):
    with open(path, "rb") as fh:
        return service.post(who, "/hazards", files={"file": (path.name, fh)}, data=form)


def hazard_dir_entries(service: Service) -> list[Path]:
    return sorted(service.app.state.settings.hazards_dir.rglob("*"))


def test_upload_run_and_export(live: Service) -> None:
    r = upload(live, "agency", REAL_HAZARD, name="warning", kind="flood_extent")
    assert r.status_code == 201, r.text
    hazard = r.json()
    assert hazard["size"] == REAL_HAZARD.stat().st_size and hazard["inspect"]
    stored = Path(live.app.state.settings.hazards_dir / hazard["id"] / REAL_HAZARD.name)
    assert stored.read_bytes() == REAL_HAZARD.read_bytes()
    assert live.get("planner", f"/hazards/{hazard['id']}").json()["sha256"] == hazard["sha256"]

    r = live.post(
        "agency",
        "/runs",
        json={"scenario": flood_scenario(), "hazards": {"warning": hazard["id"]}},
    )
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/runs/{r.json()['id']}"
    run = wait_for(live, r.json()["id"])
    assert run["status"] == "succeeded", run
    assert run["progress"] == 1.0

    assert live.get("planner", f"/runs/{run['id']}").status_code == 404  # private to the agency
    summary = live.get("agency", f"/runs/{run['id']}/summary", params={"level": "province"})
    assert summary.status_code == 200
    totals = summary.json()["totals"]
    assert totals["selected"] and totals["selected"] > 0
    png = live.get("agency", f"/runs/{run['id']}/map.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    with live.app.state.sessionmaker() as session, session.begin():
        agreement = add_agreement(
            session,
            "ngo_none",
            units=["province:Sindh"],
            fields=["district", "benefit"],
            purpose="test",
            valid_to=TODAY,
            max_rows=100_000,
        )
        agreement_id = agreement.id
    r = live.get("ngo_none", f"/runs/{run['id']}/households", params={"format": "csv"})
    assert r.status_code == 404, r.text  # not published yet
    r = live.post("agency", f"/runs/{run['id']}/publish", json={"agreements": [agreement_id]})
    assert r.status_code == 200, r.text
    r = live.get("ngo_none", f"/runs/{run['id']}/households", params={"format": "csv"})
    assert r.status_code == 200, r.text
    table = pacsv.read_csv(io.BytesIO(r.content))
    assert table.column_names == ["household_ref", "benefit", "district"]
    assert 0 < table.num_rows <= totals["selected"]

    # a second run under the same hazard, from a named scenario file
    import yaml

    (live.app.state.settings.scenarios_dir / "flood.yaml").write_text(
        yaml.safe_dump(flood_scenario())
    )
    r = live.post(
        "agency", "/runs", json={"scenario_name": "flood.yaml", "hazards": [hazard["id"]]}
    )
    assert r.status_code == 202, r.text
    assert wait_for(live, r.json()["id"])["status"] == "succeeded"
    cmp = live.post("agency", "/runs/compare", json={"run_a": run["id"], "run_b": r.json()["id"]})
    assert cmp.status_code == 200 and cmp.json()["overlap"]["only_a"] in (0, None)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"scenario": {"name": "x"}}, "eligibility"),
        ({"scenario": flood_scenario(), "hazards": {"warning": "nope"}}, "Unknown hazard"),
        ({"scenario": flood_scenario()}, "cannot read files on the server"),
        (
            {"scenario": flood_scenario(budget={"total": 10**6, "reserve_for_unregistered": True})},
            "API runs have no coverage-gap table",
        ),
        ({"scenario_name": "missing.yaml"}, "no such scenario"),
        ({"scenario_name": "/etc/passwd.yaml"}, "plain file name"),
        ({"scenario": flood_scenario(), "scenario_name": "flood.yaml"}, "exactly one"),
    ],
)
def test_bad_run_requests_are_422(live: Service, body: dict, needle: str) -> None:
    r = live.post("agency", "/runs", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert needle in r.json()["detail"]


def test_refused_uploads_leave_nothing(live: Service, tmp_path: Path) -> None:
    before = hazard_dir_entries(live)
    bad = tmp_path / "flood.tif"
    bad.write_bytes(b"II*\x00 this is not a GeoTIFF" * 100)
    r = upload(live, "agency", bad)
    assert 400 <= r.status_code < 500 and "flood.tif" in r.json()["detail"], r.text
    big = tmp_path / "big.geojson"
    big.write_bytes(b" " * 5_000_000)
    r = upload(live, "agency", big)
    assert r.status_code == 413, r.text
    assert "RAHAT_MAX_UPLOAD_BYTES" in r.json()["detail"]
    r = live.post("agency", "/hazards", files={"other": ("x.tif", b"abc")})
    assert r.status_code == 422
    r = live.post("agency", "/hazards", data={"name": "no file"}, files={})
    assert r.status_code in (415, 422)
    assert hazard_dir_entries(live) == before
