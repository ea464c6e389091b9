"""``/triggers``: store versioned triggers, upload their sources, evaluate them, start runs."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import REAL_HAZARD, Service, make_settings, start_service, wait_for_run
from sqlalchemy import select

from rahat.api.service.models import AuditEvent, Run
from rahat.api.service.triggers import files_dir

#: Tehsils of Dadu (PK703) and Larkana (PK713): three wet, one dry (as the CLI's tests).
WET, DRY = ["PK70301", "PK70302", "PK71301"], ["PK70303"]

SCENARIO = """\
name: trigger_flood
hazards:
  - {name: depth, path: "demo:flood_depth_sindh_2022", kind: flood_depth}
eligibility:
  pmt_cutoff: 40
  hazard: [{layer: depth, min_intensity: 0.3}]
benefit: {kind: fixed, amount: 25000}
"""

ACTIVATION = {
    "when": {
        "all": [{"source": "rain", "reduce": {"accumulate_days": 3}, "above": {"value": 300}}]
    },
    "scenario": "trigger_flood.yaml",
}


def trigger(name: str = "api_rain", **changes: Any) -> dict[str, Any]:
    """A trigger on a rain series (no path: uploaded), a forecast grid and CAP alerts."""
    body: dict[str, Any] = {
        "name": name,
        "version": 1,
        "areas": {"level": "tehsil", "codes": WET + DRY},
        "sources": {
            "rain": {"kind": "area_series", "value": "rain_mm"},
            "forecast": {"kind": "grid", "variable": "rain"},
            "alerts": {"kind": "cap"},
        },
        "stages": {"activation": copy.deepcopy(ACTIVATION)},
    }
    body.update(changes)
    return body


def rain_csv() -> bytes:
    """120 mm a day on the wet tehsils, 5 on the dry one, 20-31 August 2022."""
    days = pd.date_range("2022-08-20", "2022-08-31")
    rows = [(c, d.date().isoformat(), 120.0 if c in WET else 5.0) for c in WET + DRY for d in days]
    return pd.DataFrame(rows, columns=["pcode", "date", "rain_mm"]).to_csv(index=False).encode()


CAP = '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>{}</alert>'
#: Well-formed XML, but no CAP alert (a 422); a malformed or hostile file is unreadable (400).
CAP_WITHOUT_SENDER = CAP.format("").encode()
CAP_BOMB = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]>' + CAP.format("&a;")).encode()


def grid_without_crs(tmp_path: Path) -> bytes:
    """A daily forecast NetCDF over Sindh that states no CRS."""
    import numpy as np
    import xarray as xr

    lon = np.arange(67.0, 69.0, 0.1)
    lat = np.arange(28.0, 26.0, -0.1)
    values = np.ones((3, len(lat), len(lon)), dtype=np.float32)
    coords = {"time": pd.date_range("2022-08-20", periods=3), "lat": lat, "lon": lon}
    path = tmp_path / "forecast.nc"
    xr.Dataset({"rain": (("time", "lat", "lon"), values)}, coords=coords).to_netcdf(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    """A service with a registry and a scenario ``trigger_flood.yaml`` in its scenarios folder."""
    settings = make_settings(tmp_path_factory.mktemp("triggers"), registry_path=registry_file)
    settings.scenarios_dir.mkdir()
    (settings.scenarios_dir / "trigger_flood.yaml").write_text(SCENARIO)
    yield from start_service(settings)


def store(service: Service, body: dict[str, Any], who: str = "agency") -> dict[str, Any]:
    r = service.post(who, "/triggers", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def upload(service: Service, trigger_id: str, source: str, name: str, data: bytes, who="agency"):
    return service.post(
        who, f"/triggers/{trigger_id}/sources/{source}", files={"file": (name, data)}
    )


def audit_rows(service: Service, route: str) -> list[AuditEvent]:
    with service.app.state.sessionmaker() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.route == route)))


def test_a_name_sent_again_is_its_next_version_and_planners_read_it(live: Service) -> None:
    first = store(live, trigger("versions"))
    second = store(live, trigger("versions", description="wetter threshold"))
    assert (first["name"], first["version"], second["version"]) == ("versions", 1, 2)
    assert first["id"] != second["id"] and first["files"] == {}
    listed = live.get("planner", "/triggers", params={"name": "versions"})
    assert listed.status_code == 200
    assert [t["version"] for t in listed.json()] == [2, 1]
    one = live.get("planner", f"/triggers/{first['id']}")
    assert one.status_code == 200 and one.json()["trigger"] == trigger("versions")
    missing = live.get("agency", "/triggers/nope")
    assert missing.status_code == 404 and "GET /triggers" in missing.json()["detail"]


def test_a_version_stored_by_another_request_meanwhile_is_a_409(
    live: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy

    from rahat.api.service import triggers as service

    store(live, trigger("race"))

    class StaleMax:  # the other request's version 1 is not seen: this one is numbered 1 too
        @staticmethod
        def max(_column: Any) -> Any:
            return sqlalchemy.literal(0)

    monkeypatch.setattr(service, "func", StaleMax)
    r = live.post("agency", "/triggers", json=trigger("race"))
    assert r.status_code == 409 and "send it again" in r.json()["detail"], r.text
    assert [t["version"] for t in live.get("agency", "/triggers?name=race").json()] == [1]


def test_roles_ngos_are_refused_and_anonymous_callers_unauthenticated(live: Service) -> None:
    stored = store(live, trigger("roles"))
    tid = stored["id"]
    for who, status in (("ngo", 403), (None, 401)):
        assert live.get(who, "/triggers").status_code == status
        assert live.get(who, f"/triggers/{tid}").status_code == status
        assert live.get(who, f"/triggers/{tid}/evaluations").status_code == status
        assert live.post(who, "/triggers", json=trigger("roles")).status_code == status
        assert upload(live, tid, "rain", "rain.csv", rain_csv(), who).status_code == status
        r = live.post(who, f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
        assert r.status_code == status
        assert r.headers["content-type"] == "application/problem+json"
    # planners read but do not write
    assert live.post("planner", "/triggers", json=trigger("roles")).status_code == 403
    assert upload(live, tid, "rain", "rain.csv", rain_csv(), "planner").status_code == 403
    r = live.post("planner", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 403
    assert live.get("planner", "/triggers", params={"name": "roles"}).json()[0]["version"] == 1
    # admins write
    assert live.post("admin", "/triggers", json=trigger("roles")).status_code == 201


def _with_source_path(path: str) -> dict[str, Any]:
    body = trigger("reach")
    body["sources"]["rain"]["path"] = path
    return body


def _with_scenario(name: str) -> dict[str, Any]:
    body = trigger("reach")
    body["stages"]["activation"]["scenario"] = name
    return body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_with_source_path("/etc/passwd"), "cannot read files on the server"),
        (_with_source_path("../../data/triggers/sindh_tehsil_rain_2022.csv"), "cannot read files"),
        (_with_source_path("rain.csv"), "POST /triggers/{id}/sources/rain"),
        (_with_source_path("upload:0123456789abcdef"), "no uploaded area_series file"),
        (trigger("reach", areas={"path": str(REAL_HAZARD)}), "areas.path: a trigger sent to"),
        (_with_scenario("../scenarios/flood_2022_footprint.yaml"), "plain file name"),
        (_with_scenario("/etc/flood.yaml"), "plain file name"),
        (_with_scenario("absent.yaml"), "no such scenario"),
        (trigger("reach", areas={"level": "tehsil", "codes": ["PK99999"]}), "unknown tehsil"),
        (trigger("reach", stages={}), "stages"),
        (trigger("reach", version=7), "version 7"),
    ],
)
def test_a_trigger_that_reaches_server_files_or_is_invalid_is_a_422_in_words(
    live: Service, body: dict[str, Any], words: str
) -> None:
    r = live.post("agency", "/triggers", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert words in problem["detail"] and "Traceback" not in problem["detail"]
    assert live.get("agency", "/triggers", params={"name": "reach"}).json() == []


def test_a_body_that_is_not_a_json_object_is_refused(live: Service) -> None:
    r = live.post("agency", "/triggers", json=["not", "a", "mapping"])
    assert r.status_code == 422 and "JSON object" in r.text
    headers = {**live.headers("agency"), "content-type": "application/yaml"}
    r = live.client.post("/triggers", content=b"name: yaml\n", headers=headers)
    assert r.status_code == 422 and "Traceback" not in r.text, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_source_uploads_are_read_by_the_engine_and_the_latest_is_kept(
    live: Service, tmp_path: Path
) -> None:
    tid = store(live, trigger("uploads"))["id"]
    data = rain_csv()
    r = upload(live, tid, "rain", "../../rain.csv", data)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["sha256"] == hashlib.sha256(data).hexdigest() and first["size"] == len(data)
    assert first["filename"] == "rain.csv" and first["kind"] == "area_series"
    assert first["inspect"]["areas_with_values"] == 4
    assert first["inspect"]["first_day"] == "2022-08-20"
    second = upload(live, tid, "rain", "rain2.csv", data.replace(b"120.0", b"121.0")).json()
    files = live.get("planner", f"/triggers/{tid}").json()["files"]
    assert files["rain"]["id"] == second["id"] != first["id"]

    refused = [
        ("forecast", "forecast.nc", grid_without_crs(tmp_path), 422, "states no CRS"),
        ("alerts", "alert.xml", CAP_WITHOUT_SENDER, 422, "alert.xml: the alert has no <sender>"),
        ("alerts", "alert.xml", b"<alert><identifier>x</ident", 400, "alert.xml: is not"),
        ("alerts", "bomb.xml", CAP_BOMB, 400, "bomb.xml: holds a DTD"),
        ("rain", "rain.csv", b"pcode,day\nPK70301,2022-08-20\n", 422, "missing column"),
        ("forecast", "forecast.nc", data, 415, "takes a NetCDF file"),
        ("alerts", "alert.xml", b"\x89HDF\r\n\x1a\n", 415, "CAP 1.2 XML"),
        ("rain", "rain.csv", b"\x00\x01\x02", 415, "CSV"),
    ]
    for source, name, body, status, words in refused:
        r = upload(live, tid, source, name, body)
        assert r.status_code == status, (source, r.text)
        detail = r.json()["detail"]
        assert words in detail and "Traceback" not in detail, detail
        assert "/tmp" not in detail and ".tmp-" not in detail, detail
    r = upload(live, tid, "snow", "snow.csv", data)
    assert r.status_code == 404 and "sources: alerts, forecast, rain" in r.json()["detail"]
    # nothing of the refused uploads is left: the two stored files only
    kept = sorted(p.name for p in (files_dir(live.app.state.settings) / tid).rglob("*"))
    assert kept == sorted([first["id"], second["id"], "rain.csv", "rain2.csv"])
    assert files == live.get("agency", f"/triggers/{tid}").json()["files"]


def test_a_new_version_reads_an_earlier_upload_named_by_its_id(live: Service) -> None:
    first = store(live, trigger("reuse"))
    uploaded = upload(live, first["id"], "rain", "rain.csv", rain_csv()).json()
    body = trigger("reuse")
    body["sources"]["rain"]["path"] = f"upload:{uploaded['id']}"
    second = store(live, body)
    assert second["version"] == 2 and second["files"] == {}
    r = live.post(
        "agency", f"/triggers/{second['id']}/evaluate", json={"as_of": "2022-08-25", "run": False}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"]["stages"]["activation"]["fires"] == WET
    body["sources"]["forecast"]["path"] = f"upload:{uploaded['id']}"  # a series, not a grid
    r = live.post("agency", "/triggers", json=body)
    assert r.status_code == 422 and "sources.forecast.path: no uploaded grid file" in r.text


def test_an_upload_beyond_the_size_limit_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_upload_bytes=1000)
    for service in start_service(settings):
        stages = {"activation": {"when": ACTIVATION["when"]}}  # no scenarios folder here
        tid = store(service, trigger("big", stages=stages))["id"]
        r = upload(service, tid, "rain", "rain.csv", rain_csv())
        assert r.status_code == 413, r.text
        assert not any((files_dir(settings) / tid).rglob("*.csv"))


def test_evaluate_fires_where_it_rains_and_starts_the_restricted_run(live: Service) -> None:
    tid = store(live, trigger("evaluate"))["id"]
    assert upload(live, tid, "rain", "rain.csv", rain_csv()).status_code == 201

    dry = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-21"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["state"]["stages"]["activation"]["fires"] == []
    assert dry.json()["run_id"] is None
    no_run = live.post(
        "agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25", "run": False}
    )
    assert no_run.json()["state"]["stages"]["activation"]["fires"] == WET
    assert no_run.json()["run_id"] is None

    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 200, r.text
    evaluation = r.json()
    state = evaluation["state"]
    assert state["trigger"] == "evaluate" and state["as_of"] == "2022-08-25"
    rows = state["stages"]["activation"]["conditions"][0]["areas"]
    assert {row["code"]: row["value"] for row in rows}["PK70301"] == 360.0
    run = wait_for_run(live, evaluation["run_id"])
    assert run["status"] == "succeeded", run
    assert run["scenario_name"] == "trigger_flood.yaml"
    with live.app.state.sessionmaker() as session:
        stored = session.get(Run, evaluation["run_id"])
        assert stored is not None
        notified = stored.scenario["eligibility"]["notified"]
        run_dir = Path(stored.artifact_dir or "")
    assert notified == {"level": "tehsil", "units": WET}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["trigger"]["stages"]["activation"]["fires"] == WET
    caseload = pd.read_parquet(run_dir / "caseload.parquet")
    chosen = caseload[caseload["selected"]]
    assert len(chosen) > 0 and set(chosen["tehsil_pcode"].astype(str)) <= set(WET)

    audited = audit_rows(live, "/triggers/{trigger_id}/evaluate")
    started = [e for e in audited if e.filter.get("evaluation_id") == evaluation["id"]]
    assert [(e.run_id, e.outcome) for e in started] == [(evaluation["run_id"], 200)]

    listed = live.get("planner", f"/triggers/{tid}/evaluations")
    assert listed.status_code == 200
    assert [e["run_id"] for e in listed.json()] == [evaluation["run_id"], None, None]


def test_evaluate_refusals_are_problems_in_words(live: Service) -> None:
    tid = store(live, trigger("refusals"))["id"]
    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 409 and "POST /triggers/" in r.json()["detail"], r.text
    stored = upload(live, tid, "rain", "rain.csv", rain_csv()).json()
    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2023-01-01"})
    assert r.status_code == 422, r.text
    assert "is outside its days 2022-08-20 .. 2022-08-31" in r.json()["detail"]
    # a file gone from the server is named as it was uploaded, never by its server path
    (files_dir(live.app.state.settings) / tid / stored["id"] / "rain.csv").unlink()
    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "rain.csv: sources.rain: no file rain.csv"
    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "25/08/2022"})
    assert r.status_code == 422
    r = live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25", "x": 1})
    assert r.status_code == 422
    r = live.post("agency", "/triggers/nope/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 404


def test_every_call_is_audited(live: Service) -> None:
    stored = store(live, trigger("audited"))
    tid = stored["id"]
    upload(live, tid, "rain", "rain.csv", rain_csv())
    live.post("agency", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25", "run": False})
    live.post("ngo", f"/triggers/{tid}/evaluate", json={"as_of": "2022-08-25"})
    live.get("planner", f"/triggers/{tid}")

    created = [e for e in audit_rows(live, "/triggers") if e.filter.get("trigger_id") == tid]
    assert [(e.action, e.outcome, e.organisation) for e in created] == [
        ("triggers.create", 201, "agency")
    ]
    assert created[0].filter["version"] == 1 and created[0].filter["name"] == "audited"
    uploads = [
        e
        for e in audit_rows(live, "/triggers/{trigger_id}/sources/{source}")
        if e.filter.get("trigger_id") == tid
    ]
    assert [(e.action, e.outcome) for e in uploads] == [("triggers.sources", 201)]
    assert uploads[0].filter["sha256"] == hashlib.sha256(rain_csv()).hexdigest()
    evaluations = [
        (e.action, e.outcome, e.role, e.filter.get("as_of"))
        for e in audit_rows(live, "/triggers/{trigger_id}/evaluate")
        if tid in e.path
    ]
    assert evaluations == [
        ("triggers.evaluate", 200, "agency", "2022-08-25"),
        ("triggers.evaluate", 403, "ngo", None),
    ]
    reads = [e for e in audit_rows(live, "/triggers/{trigger_id}") if e.path.endswith(tid)]
    assert [(e.action, e.role, e.outcome) for e in reads] == [("triggers.read", "planner", 200)]


def test_debris_of_an_interrupted_trigger_upload_is_swept_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    debris = files_dir(settings) / "some-trigger" / ".tmp-0123" / "rain.csv"
    debris.parent.mkdir(parents=True)
    debris.write_text("half")
    kept = files_dir(settings) / "some-trigger" / "file-id" / "rain.csv"
    kept.parent.mkdir(parents=True)
    kept.write_text("whole")
    for _service in start_service(settings):
        assert not debris.parent.exists() and kept.exists()


def test_another_organisation_cannot_feed_evaluate_or_borrow_from_a_trigger(live: Service) -> None:
    theirs = store(live, trigger("admins_rain"), who="admin")
    r = upload(live, theirs["id"], "rain", "rain.csv", rain_csv(), who="admin")
    assert r.status_code == 201, r.text
    their_file = r.json()["id"]
    r = upload(live, theirs["id"], "rain", "rain.csv", rain_csv())  # the agency
    assert r.status_code == 403 and "another organisation" in r.json()["detail"]
    r = live.post("agency", f"/triggers/{theirs['id']}/evaluate", json={"as_of": "2022-08-25"})
    assert r.status_code == 403
    borrowed = trigger("borrowed")
    borrowed["sources"]["rain"]["path"] = f"upload:{their_file}"
    r = live.post("agency", "/triggers", json=borrowed)
    assert r.status_code == 422 and "no uploaded area_series file" in r.text
    mine = store(live, trigger("agency_rain"))
    r = upload(live, mine["id"], "rain", "rain.csv", rain_csv(), who="admin")  # admins may
    assert r.status_code == 201, r.text
