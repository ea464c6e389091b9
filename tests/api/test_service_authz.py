"""Authorisation matrix: each role x each endpoint, and household lists cut to agreements."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import NGO_FIELDS, Service

ALL = ["admin", "agency", "planner", "ngo", "ngo_expired", "ngo_future", "ngo_none"]
NGOS = ["ngo", "ngo_expired", "ngo_future", "ngo_none"]
FORMATS = ["json", "csv", "parquet", "geojson"]


def expect(anon: int, **by_role: int) -> dict[str | None, int]:
    """Expected status per caller; ``ngos=`` sets every NGO, ``staff=`` admin/agency/planner."""
    table: dict[str | None, int] = {None: anon}
    for group, members in (("ngos", NGOS), ("staff", ["admin", "agency", "planner"])):
        if group in by_role:
            for who in members:
                table[who] = by_role[group]
    for who, status in by_role.items():
        if who not in ("ngos", "staff"):
            table[who] = status
    assert set(table) == {None, *ALL}, sorted(map(str, table))
    return table


Call = Callable[[Service, str | None], Any]

MATRIX: dict[str, tuple[Call, dict[str | None, int]]] = {
    "GET /healthz": (
        lambda s, w: s.get(w, "/healthz"),
        expect(200, staff=200, ngos=200),
    ),
    "GET /hazards": (
        lambda s, w: s.get(w, "/hazards"),
        expect(401, staff=200, ngos=403),
    ),
    "GET /hazards/{id}": (
        lambda s, w: s.get(w, f"/hazards/{s.hazard_id}"),
        expect(401, staff=200, ngos=403),
    ),
    "POST /hazards (not multipart)": (
        lambda s, w: s.post(w, "/hazards", json={"file": "x"}),
        expect(401, admin=415, agency=415, planner=403, ngos=403),
    ),
    "POST /runs (scenario outside scenarios/)": (
        lambda s, w: s.post(w, "/runs", json={"scenario_name": "../secret.yaml"}),
        expect(401, staff=422, ngos=403),
    ),
    "GET /runs": (
        lambda s, w: s.get(w, "/runs"),
        expect(401, staff=200, ngos=200),
    ),
    "GET /runs/{id}": (  # private to the agency that ran it; published to 'ngo'
        lambda s, w: s.get(w, f"/runs/{s.run_id}"),
        expect(401, admin=200, agency=200, planner=404, ngos=404, ngo=200),
    ),
    "GET /runs/{planner's run}": (
        lambda s, w: s.get(w, f"/runs/{s.planner_run_id}"),
        expect(401, admin=200, agency=404, planner=200, ngos=404),
    ),
    "POST /runs/{id}/publish": (
        lambda s, w: s.post(w, f"/runs/{s.run_id}/publish", json={"agreements": [1]}),
        expect(401, admin=200, agency=200, planner=403, ngos=403),
    ),
    "POST /runs/{planner's run}/publish": (
        lambda s, w: s.post(w, f"/runs/{s.planner_run_id}/publish", json={"agreements": [1]}),
        expect(401, admin=200, agency=404, planner=403, ngos=403),
    ),
    "GET /runs/{unknown}": (
        lambda s, w: s.get(w, "/runs/doesnotexist"),
        expect(401, staff=404, ngos=404),
    ),
    "POST /runs/{id}/rerun (succeeded)": (
        lambda s, w: s.post(w, f"/runs/{s.run_id}/rerun"),
        expect(401, admin=409, agency=409, planner=404, ngos=403),
    ),
    "GET /runs/{id}/summary": (
        lambda s, w: s.get(w, f"/runs/{s.run_id}/summary"),
        expect(401, admin=200, agency=200, planner=404, ngos=403),
    ),
    "GET /runs/{id}/map.png": (
        lambda s, w: s.get(w, f"/runs/{s.run_id}/map.png"),
        expect(401, admin=200, agency=200, planner=404, ngos=403),
    ),
    "POST /runs/compare": (
        lambda s, w: s.post(w, "/runs/compare", json={"run_a": s.run_id, "run_b": s.other_run_id}),
        expect(401, admin=200, agency=200, planner=404, ngos=403),
    ),
    "GET /runs/{id}/households": (
        lambda s, w: s.get(w, f"/runs/{s.run_id}/households", params={"limit": 10}),
        expect(
            401,
            admin=200,
            agency=403,
            planner=403,
            ngo=200,
            ngo_expired=403,
            ngo_future=403,
            ngo_none=403,
        ),
    ),
    "GET /audit": (
        lambda s, w: s.get(w, "/audit"),
        expect(401, admin=200, agency=403, planner=403, ngos=403),
    ),
}


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == status and body["title"] and body["detail"]
        assert "Traceback" not in response.text


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_authorisation_matrix(service: Service, endpoint: str) -> None:
    call, expected = MATRIX[endpoint]
    for who, status in expected.items():
        response = call(service, who)
        assert response.status_code == status, (endpoint, who, response.text)
        assert_problem(response, status)


def test_bad_token_is_401(service: Service) -> None:
    for token in ("rahat_notarealtokenatall", "something-else", service.tokens["admin"] + "x"):
        r = service.client.get("/runs", headers={"Authorization": f"Bearer {token}"})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"


# ---------------------------------------------------------------- household lists by format


def rows_of(response: Any, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of a households response in any format."""
    if fmt == "json":
        body = response.json()
        return body["fields"], body["items"]
    if fmt == "csv":
        table = pacsv.read_csv(io.BytesIO(response.content))
        return table.column_names, table.to_pylist()
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(response.content))
        return table.column_names, table.to_pylist()
    body = json.loads(response.content)
    assert body["type"] == "FeatureCollection"
    rows = []
    for feature in body["features"]:
        assert feature["geometry"]["type"] == "Point"
        rows.append(feature["properties"])
    columns = list(rows[0]) if rows else []
    return columns, rows


def selected_in(table: pa.Table, column: str, values: list[str]) -> pa.Table:
    mask = pc.and_(table["selected"], pc.is_in(table[column].cast(pa.string()), pa.array(values)))
    return table.filter(mask)


def assert_nothing_outside(response: Any, service: Service) -> None:
    """No raw id, no other district, no ungranted column name anywhere in the bytes."""
    text = response.content.decode("latin-1")
    for needle in (
        "Larkana",
        "Jamshoro",
        "PK713",
        "PK708",
        "pmt_score",
        "reasons",
        "household_id",
        "depth_class",
        "household_size",
    ):
        assert needle not in text, needle
    for raw in service.table["household_id"].to_pylist()[:200]:
        assert str(raw) not in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_ngo_pages_cover_exactly_its_agreement(service: Service, fmt: str) -> None:
    expected = selected_in(service.table, "district", ["Dadu"]).num_rows
    assert 50 < expected < 100  # the fixture exceeds the 50-row cap
    seen: list[dict[str, Any]] = []
    for offset in (0, 50):
        r = service.get(
            "ngo",
            f"/runs/{service.run_id}/households",
            params={"format": fmt, "limit": 50, "offset": offset},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-total-count"] == str(expected)
        columns, rows = rows_of(r, fmt)
        assert set(columns) <= {"household_ref", *NGO_FIELDS, "score_severity", "score_poverty"}
        assert "household_ref" in columns and "household_id" not in columns
        assert all(row["district"] == "Dadu" for row in rows)
        assert_nothing_outside(r, service)
        seen += rows
    assert len(seen) == expected
    assert len({row["household_ref"] for row in seen}) == expected


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"unit": "district:Larkana", "limit": 10}, 403),  # another district
        ({"unit": "PK713", "limit": 10}, 403),  # the same by P-code
        ({"unit": "Larkana", "limit": 10}, 422),  # a bare name of a district and a tehsil
        ({"unit": "Sindh", "limit": 10}, 403),  # province level: 'province' not granted
        ({"unit": "Nowhere", "limit": 10}, 422),  # unknown unit
        ({"unit": ["district:Dadu", "tehsil:Kotri"], "limit": 10}, 403),  # one outside
        ({"fields": "pmt_score"}, 403),  # field not granted
        ({"fields": "household_id"}, 403),  # raw ids not granted
        ({"fields": "district,reasons"}, 403),
        ({"fields": "no_such_column"}, 403),
        ({}, 403),  # 58 rows > 50 per request, no limit: refused for files (paged for JSON)
        ({"limit": 51}, 403),  # above the cap
        ({"limit": 50, "selected_only": "false"}, 403),  # non-selected households
        ({"unit": "tehsil:Mehar", "limit": 50}, 200),  # a tehsil inside Dadu
        ({"unit": "PK70302", "limit": 50}, 200),  # Johi by P-code
        ({"unit": "district:dadu", "limit": 50, "fields": "district,benefit"}, 200),
    ],
)
def test_ngo_requests_inside_and_outside(
    service: Service, fmt: str, params: dict[str, Any], status: int
) -> None:
    if fmt == "json" and params == {}:
        status = 200  # JSON pages: the first page of at most 50
    r = service.get("ngo", f"/runs/{service.run_id}/households", params={"format": fmt, **params})
    assert_problem(r, status)
    if status != 200:
        return
    columns, rows = rows_of(r, fmt)
    assert len(rows) <= 50
    assert all(row.get("district", "Dadu") == "Dadu" for row in rows)
    if "unit" in params and params["unit"] in ("tehsil:Mehar", "PK70302"):
        tehsil = "Mehar" if params["unit"] == "tehsil:Mehar" else "Johi"
        assert rows and all(row["tehsil"] == tehsil for row in rows)
        assert len(rows) == selected_in(service.table, "tehsil", [tehsil]).num_rows
    if "fields" in params:
        assert columns == params["fields"].split(",") or fmt == "geojson"
    assert_nothing_outside(r, service)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("who", ["ngo_expired", "ngo_future", "ngo_none", "agency", "planner"])
def test_households_refused_without_agreement(service: Service, fmt: str, who: str) -> None:
    r = service.get(who, f"/runs/{service.run_id}/households", params={"format": fmt, "limit": 5})
    assert_problem(r, 403)
    assert "items" not in r.json() and "household" not in r.headers.get("content-disposition", "")


def test_ngo_with_id_grant_gets_raw_ids_in_its_units(service: Service) -> None:
    r = service.get("ngo_ids", f"/runs/{service.run_id}/households", params={"format": "csv"})
    assert r.status_code == 200, r.text
    columns, rows = rows_of(r, "csv")
    assert set(columns) == {"household_id", "district", "tehsil", "benefit"}
    expected = selected_in(service.table, "district_pcode", ["PK713"])
    assert sorted(row["household_id"] for row in rows) == sorted(
        expected["household_id"].to_pylist()
    )
    assert {row["district"] for row in rows} == {"Larkana"}
    geo = service.get("ngo_ids", f"/runs/{service.run_id}/households", params={"format": "geojson"})
    assert_problem(geo, 403)  # lon/lat not granted


def test_pseudonyms_are_stable_per_agreement_and_unlinkable(service: Service) -> None:
    def refs(who: str) -> list[str]:
        r = service.get(
            who,
            f"/runs/{service.run_id}/households",
            params={"fields": "household_ref", "limit": 24},
        )
        assert r.status_code == 200, r.text
        return [row["household_ref"] for row in r.json()["items"]]

    first, again, other = refs("ngo"), refs("ngo"), refs("ngo_other")
    assert first == again and len(first) == 24
    assert not set(first) & set(other)


def test_admin_sees_everything(service: Service) -> None:
    r = service.get(
        "admin",
        f"/runs/{service.run_id}/households",
        params={"format": "parquet", "selected_only": "false"},
    )
    assert r.status_code == 200
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == service.table.num_rows
    assert set(table.column_names) == set(service.table.column_names)


def test_k_suppression(service: Service) -> None:
    from privacy_attacks import subtraction_attack

    for who, suppressed in (("agency", True), ("admin", False)):
        levels = {}
        for level in ("province", "district", "tehsil"):
            r = service.get(who, f"/runs/{service.run_id}/summary", params={"level": level})
            assert r.status_code == 200, r.text
            levels[level] = r.json()
        body = levels["tehsil"]
        mehar = next(u for u in body["units"] if u["tehsil"] == "Mehar")
        dadu = next(u for u in body["units"] if u["tehsil"] == "Dadu")
        if suppressed:
            assert body["k"] == 10
            assert mehar["households"] is None and mehar["selected"] is None
            assert mehar["benefit"] is None and mehar["suppressed"] is True
            assert subtraction_attack(levels) == []
            for level_body in levels.values():
                for unit in [level_body["totals"], *level_body["units"]]:
                    counts = [unit[c] for c in ("households", "eligible", "selected")]
                    assert all(v is None or v == 0 or v >= 10 for v in counts), unit
        else:
            assert body["k"] is None and mehar["households"] == 3
            assert dadu["households"] == 40 and dadu["selected"] == 32
            assert dadu["benefit"] == 32 * 25_000.0
            assert body["totals"]["households"] == service.table.num_rows


def test_compare_runs(service: Service) -> None:
    r = service.post(
        "agency", "/runs/compare", json={"run_a": service.run_id, "run_b": service.other_run_id}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert {u["district"] for u in body["units"]} == {"Dadu", "Larkana", "Jamshoro"}
    assert body["k"] == 10 and "households" not in body
    for unit in [body["overlap"], *body["units"]]:
        for name, value in unit.items():
            if name not in ("province", "district", "code", "change"):
                assert value is None or value == 0 or value >= 10, (name, value)
    r = service.post(
        "admin",
        "/runs/compare",
        json={"run_a": service.run_id, "run_b": service.other_run_id, "level": "province"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overlap"]["selected_a"] == pc.sum(service.table["selected"]).as_py()
    overlap = body["overlap"]
    assert overlap["in_both"] + overlap["only_a"] == overlap["selected_a"]
    assert body["k"] is None and all("district" not in u for u in body["units"])
    assert sum(u["selected_a"] for u in body["units"]) == body["overlap"]["selected_a"]
    r = service.post(
        "agency",
        "/runs/compare",
        json={"run_a": service.run_id, "run_b": service.run_id, "level": "tehsil"},
    )
    assert r.status_code == 422, r.text


def test_audit_log_records_who_what_and_how_much(service: Service) -> None:
    run = service.run_id
    service.get("ngo", f"/runs/{run}/households", params={"format": "csv", "limit": 7})
    service.get("ngo", f"/runs/{run}/households", params={"unit": "PK713", "limit": 7})
    service.get("ngo_expired", f"/runs/{run}/households", params={"limit": 7})
    r = service.get("admin", "/audit", params={"run_id": run, "action": "households.export"})
    assert r.status_code == 200
    events = r.json()
    ok = [
        e
        for e in events
        if e["organisation"] == "ngo"
        and e["outcome"] == 200
        and e["filter"]["format"] == "csv"
        and e["filter"]["limit"] == 7
    ]
    assert ok and ok[-1]["rows"] == 7 and "household_ref" in ok[-1]["fields"]
    assert ok[-1]["agreement_id"] is not None and ok[-1]["role"] == "ngo"
    denied = [e for e in events if e["outcome"] == 403 and e["filter"].get("units") == ["PK713"]]
    assert denied and denied[-1]["rows"] == 0
    assert any(e["organisation"] == "ngo_expired" and e["outcome"] == 403 for e in events)
